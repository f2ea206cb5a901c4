Feature: Repaying overdue charges earns a rebate and better credit
  A customer who repays overdue charges within the window gets part of the
  late-payment penalty back, and its credit improves as its arrears fall
  (paper, 3.1).

  Scenario: A customer who earned a rebate receives it
    Given a residential customer with a clean record
    And the customer has 1 overdue bill in the last 12 months, the longest 12 days late
    And the customer earned an overdue-charge rebate
    When the engine decides
    Then the customer receives overdue_rebate
    And the policy overdue_rebate has window_days = 30

  Scenario: Repaying the arrears improves the score
    Given a commercial customer with a clean record
    And the customer owes 8000 in overdue charges
    And the customer has 2 overdue bills in the last 12 months, the longest 40 days late
    When the engine decides
    And the customer repays the overdue charges and the engine decides again
    Then the probability of default is lower than before
    And the grade is no worse than before
