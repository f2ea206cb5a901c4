Feature: Customers with overdue charges are told their liability
  The utility makes every customer with overdue charges aware of its
  liability for the default and charges the late-payment penalty of the
  supply rules (paper, 3.1; utility-practice notes).

  Scenario Outline: Overdue charges bring a liability notice and the penalty of the class
    Given a <class> customer with a clean record
    And the customer owes 500 in overdue charges
    And the customer has 1 overdue bill in the last 12 months, the longest 20 days late
    When the engine decides
    Then the customer receives default_liability_notice, late_payment_penalty
    And the policy late_payment_penalty has daily_rate_current_year = <rate>

    Examples:
      | class       | rate  |
      | residential | 0.001 |
      | commercial  | 0.002 |
      | industrial  | 0.002 |

  Scenario: A customer who owes nothing gets no notice
    Given a residential customer with a clean record
    When the engine decides
    Then the customer does not receive default_liability_notice, late_payment_penalty

  Scenario Outline: Long arrears bring a supply-cut warning with the notice of the class
    Given a <class> customer with a clean record
    And the customer owes 3000 in overdue charges
    And the customer has 3 overdue bills in the last 12 months, the longest 45 days late
    When the engine decides
    Then the customer receives supply_cut_warning
    And the policy supply_cut_warning has notice_days = <days>

    Examples:
      | class       | days |
      | residential | 7    |
      | commercial  | 3    |
