Feature: Outage-sensitive customers are protected from interruptions
  Customers for whom an outage is costly or dangerous get emergency power
  supply and advance notice of outages, so they can prepare (paper, 3.1).

  Scenario Outline: A customer supplying a critical load is outage-sensitive
    Given a <class> customer with a clean record
    And the customer supplies a critical load
    When the engine decides
    Then the outage sensitivity is high
    And the customer receives emergency_power_supply, outage_advance_notice, priority_repair_channel, emergency_response_plan

    Examples:
      | class       |
      | public      |
      | industrial  |
      | residential |

  Scenario: An ordinary household is not outage-sensitive
    Given a residential customer with a clean record
    When the engine decides
    Then the outage sensitivity is normal
    And the customer does not receive emergency_power_supply, outage_advance_notice

  Scenario: A critical load is never warned of a supply cut
    Given a public customer with a clean record
    And the customer supplies a critical load
    And the customer owes 20000 in overdue charges
    And the customer has 2 overdue bills in the last 12 months, the longest 60 days late
    When the engine decides
    Then the customer receives default_liability_notice
    And the customer does not receive supply_cut_warning
