Feature: Collections move on event time, within the law, and protections outrank risk
  An overdue bill opens a case. The customer's strategy (rules/collections.yaml)
  dates its steps from the due date; the law's notice days before a cut cannot be
  shortened; a protection (rules/protections.yaml) blocks the cut steps while it
  holds; full repayment cancels what is left; the penalty accrues day by day at
  the catalogue's rates.

  Scenario: A household's bill unpaid for 40 days
    Given a household "H1" decided on 2026-01-01
    And bill "B1" of 200 issued on 2026-01-01 due on 2026-01-20
    When its collections are read on 2026-03-01
    Then the strategy is "household-standard"
    And bill "B1" owes 200.00 with a penalty of 8.00 over 40 days
    And the steps of bill "B1" are
      | action                   | date       | status |
      | reminder                 | 2026-01-23 | done   |
      | default_liability_notice | 2026-01-30 | done   |
      | reminder                 | 2026-02-09 | done   |
      | supply_cut_warning       | 2026-02-19 | done   |
      | supply_cut_order         | 2026-03-01 | due    |
    And the cut order comes at least 7 days after the cut warning, with a call 1 hours before
    And the work list of 2026-03-01 holds supply_cut_order for "H1"

  Scenario: The household's cut warning speaks to the customer in both languages
    Given a household "H1" decided on 2026-01-01
    And bill "B1" of 200 issued on 2026-01-01 due on 2026-01-20
    When its collections are read on 2026-02-19
    Then the supply_cut_warning document in en says "your supply may be cut from March 1, 2026"
    And the supply_cut_warning document in en says "you still owe CN¥200.00"
    And the supply_cut_warning document in zh-CN says "您的供电可能自2026年3月1日起被停止，即本预警后10天"
    And the supply_cut_warning document in zh-CN says "您仍欠¥200.00"

  Scenario: The same household with a medical certificate
    Given a household "H1" decided on 2026-01-01
    And bill "B1" of 200 issued on 2026-01-01 due on 2026-01-20
    And a medical_certificate protection "MC-1" granted on 2026-02-10
    When its collections are read on 2026-03-01
    Then the steps of bill "B1" are
      | action                   | date       | status  |
      | reminder                 | 2026-01-23 | done    |
      | default_liability_notice | 2026-01-30 | done    |
      | reminder                 | 2026-02-09 | done    |
      | supply_cut_warning       | 2026-03-12 | blocked |
      | supply_cut_order         | 2026-03-19 | blocked |
    And every blocked step names the protection medical_certificate
    And the work list of 2026-03-01 holds supply_cut_order for "H1" blocked by medical_certificate

  Scenario: A hospital is an important user: no cut, the regulator copied
    Given a hospital "P1" decided on 2026-01-01
    And bill "B7" of 5000 issued on 2026-01-01 due on 2026-01-20
    When its collections are read on 2026-03-15
    Then the strategy is "important-user"
    And the first step of bill "B7" is account_manager_call
    And the steps supply_cut_warning and supply_cut_order of bill "B7" are blocked by critical_load
    And every step of bill "B7" copies the regulator

  Scenario: Payment on the day of the warning
    Given a household "H1" decided on 2026-01-01
    And bill "B1" of 200 issued on 2026-01-01 due on 2026-01-20
    And the customer repays 200 on bill "B1" on 2026-02-19
    When its collections are read on 2026-03-01
    Then bill "B1" owes 0.00 with a penalty of 6.00 over 30 days
    And the steps of bill "B1" are
      | action                   | date       | status    |
      | reminder                 | 2026-01-23 | done      |
      | default_liability_notice | 2026-01-30 | done      |
      | reminder                 | 2026-02-09 | done      |
      | supply_cut_warning       | 2026-02-19 | cancelled |
      | supply_cut_order         | 2026-03-01 | cancelled |
    And the work list of 2026-03-01 has nothing for "H1"

  Scenario: A kept agreement pauses the steps; a broken one resumes them
    Given a household "H1" decided on 2026-01-01
    And bill "B1" of 200 issued on 2026-01-01 due on 2026-01-20
    And repayment agreement "A1" made on 2026-02-01
    When its collections are read on 2026-02-15
    Then the steps of bill "B1" are
      | action                   | date       | status |
      | reminder                 | 2026-01-23 | done   |
      | default_liability_notice | 2026-01-30 | done   |
      | reminder                 | 2026-02-09 | paused |
      | supply_cut_warning       | 2026-02-19 | paused |
      | supply_cut_order         | 2026-03-01 | paused |
    When repayment agreement "A1" is broken on 2026-02-11
    And its collections are read on 2026-03-11
    Then the steps of bill "B1" are
      | action                   | date       | status |
      | reminder                 | 2026-01-23 | done   |
      | default_liability_notice | 2026-01-30 | done   |
      | reminder                 | 2026-02-19 | done   |
      | supply_cut_warning       | 2026-03-01 | done   |
      | supply_cut_order         | 2026-03-11 | due    |

  Scenario: Penalties across a year boundary
    Given a shop "S1" decided on 2026-12-01
    And bill "B9" of 1000 issued on 2026-12-01 due on 2026-12-21
    When its collections are read on 2027-01-20
    Then bill "B9" owes 1000.00 with a penalty of 80.00 over 30 days
    And the statement of account ends with a balance of 1080.00

  Scenario: A deposit refund after 12 clean months
    Given a C-grade household "D1" decided on 2026-01-01
    And monthly bills of 120 from 2026-01-01 to 2026-12-01, each paid on its due date, and a deposit of 240 paid on 2026-01-05
    When its collections are read on 2027-01-05
    Then the deposit asked by the grade is 240.00
    And the deposit refund of 240.00 is due on 2027-01-05
    And the work list of 2027-01-05 holds deposit_refund for "D1"

  Scenario: A yearly deposit review returns what the grade no longer asks
    Given a C-grade household "D2" decided on 2026-01-01
    And monthly bills of 60 from 2026-01-01 to 2026-12-01, each paid on its due date but the one of 2026-06-01 10 days late, and a deposit of 240 paid on 2026-01-05
    When its collections are read on 2027-01-05
    Then the deposit asked by the grade is 120.00
    And the deposit review returns 120.00 on 2027-01-05
    And the deposit refund of 240.00 is scheduled on 2027-06-30
    And the work list of 2027-01-05 holds deposit_review for "D2"
