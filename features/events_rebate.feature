Feature: Overdue charges repaid within the window earn a rebate
  A customer who repays an overdue bill in full within 30 days of it falling
  overdue gets half of the late-payment penalty back (at most 500), its credit
  improves, and the next decision grants the overdue rebate naming the events.

  Background:
    Given customer "R1" was billed 200 on 2026-01-01 as bill "B1"
    And bill "B1" fell overdue on 2026-02-01 with a late-payment penalty of 12

  Scenario: Repaid in full on day 12 of the 30-day window
    When the customer repays 200 on bill "B1" 12 days after it fell overdue
    Then the customer earns a rebate of 6
    And the outcome credit_improvement is raised
    And the decision on 2026-03-01 grants overdue_rebate naming the events of bill "B1"

  Scenario: Repaid in full on day 45, after the window
    When the customer repays 200 on bill "B1" 45 days after it fell overdue
    Then the customer earns no rebate
    And the decision on 2026-04-01 does not grant overdue_rebate

  Scenario: Partial repayment within the window
    When the customer repays 150 on bill "B1" 12 days after it fell overdue
    Then the customer earns no rebate

  Scenario: The rebate is capped
    Given bill "B2" of 90000 issued on 2026-02-01 fell overdue on 2026-02-05 with a late-payment penalty of 1500
    When the customer repays 90000 on bill "B2" 3 days after it fell overdue
    Then the customer earns a rebate of 500
