Feature: Grade overrides follow published utility schemes
  The scorer's PD sets the grade through the master scale, but some facts
  override it: electricity theft forces the lowest grade, unpaid arrears bar
  the top grade, a new connection starts at a middle grade and a customer at
  the lowest grade rises one step at most.

  Scenario: A clean record gets its grade from the master scale
    Given a industrial customer with a clean record
    When the engine decides
    Then no override applies

  Scenario: Theft forces the lowest grade
    Given a industrial customer with a clean record
    And a theft finding forces the lowest grade until 2027-06-30
    When the engine decides
    Then the grade is C
    And the grade is set by override "theft-override"

  Scenario Outline: Other overrides cap the grade
    Given a <class> customer with a clean record
    And <fact>
    When the engine decides
    Then the grade is <grade>
    And the grade is set by override "<rule>"

    Examples:
      | class      | fact                                         | grade | rule                        |
      | industrial | the customer has been connected for 4 months | A     | new-connection-cap          |
      | industrial | the customer was graded C last year          | B     | lowest-grade-rises-one-step |
      | industrial | the customer owes 100 in overdue charges     | AA    | arrears-bar-top-grade       |
