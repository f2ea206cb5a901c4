Feature: A theft finding forces the lowest grade for the configured period
  A confirmed theft finding forces grade C for 730 days; after that the
  normal rules grade the customer again. A broken repayment agreement forces
  a re-grade to C for a year in the same way.

  Scenario: Forced grade for the period, then normal rules again
    Given customer "T1" was billed 100 on 2024-01-01 as bill "B1"
    When a theft finding is recorded on 2024-02-01
    Then the decision on 2025-06-01 has grade C by rule theft-override naming the theft finding
    And the decision on 2026-02-02 is not graded by rule theft-override

  Scenario: A broken repayment agreement forces a re-grade
    Given customer "A1" was billed 100 on 2025-01-01 as bill "B1"
    When the customer makes repayment agreement "AG1" on 2025-02-01 and breaks it on 2025-03-01
    Then the outcome agreement_regrade with grade C is in force on 2026-02-28
    And the decision on 2026-02-28 has grade C by rule broken-agreement-regrade naming the broken agreement
    And no outcome agreement_regrade is in force on 2026-03-02
    And the decision on 2026-03-02 is not graded by rule broken-agreement-regrade
