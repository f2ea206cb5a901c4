Feature: High-credit large consumers get no price concession
  Customers who already pay well would not pay better for a discount, and
  their volume makes a discount expensive: the utility grants them no price
  concession (paper, 3.1).

  Scenario: A large consumer with top credit gets no price concession
    Given a industrial customer with a clean record
    And the customer uses 2500000 kWh a month
    When the engine decides
    Then the grade is one of AAA, AA
    And the customer receives no_price_concession

  Scenario: A small consumer is not concerned
    Given a residential customer with a clean record
    And the customer uses 250 kWh a month
    When the engine decides
    Then the customer does not receive no_price_concession
