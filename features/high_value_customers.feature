Feature: High-value customers get a dedicated service package
  A large consumer with good credit is valuable to the utility. It gets an
  account manager who follows its demand, on-site service, negotiation before
  planned outages, a priority channel for fault repair and an emergency
  response plan (paper, section 3.1).

  Scenario Outline: A large <class> consumer with a clean record is high-value
    Given a <class> customer with a clean record
    And the customer uses <kwh> kWh a month
    When the engine decides
    Then the grade is one of AAA, AA, A
    And the value tier is high
    And the customer receives dedicated_account_manager, on_site_service, pre_outage_negotiation, priority_repair_channel, emergency_response_plan
    And the explanation cites the rule behind dedicated_account_manager

    Examples:
      | class      | kwh       |
      | industrial | 2500000   |
      | commercial | 60000     |
      | public     | 200000    |

  Scenario: A small consumer with the same clean record is not high-value
    Given a commercial customer with a clean record
    And the customer uses 1500 kWh a month
    When the engine decides
    Then the value tier is standard
    And the customer does not receive dedicated_account_manager, on_site_service

  Scenario: Planned outages are negotiated a week ahead
    Given a industrial customer with a clean record
    And the customer uses 2500000 kWh a month
    When the engine decides
    Then the policy pre_outage_negotiation has planned_lead_days = 7

  Scenario: A high-value hospital gets the critical-load repair target and drills
    Two rules grant the repair channel and the emergency plan: the high-value
    package and the critical-load protection. The catalogue combines their
    parameters with min, so the hospital gets the stricter targets, and the
    explanation cites both rules with the value each gave.
    Given a public customer with a clean record
    And the customer uses 200000 kWh a month
    And the customer supplies a critical load
    When the engine decides
    Then the value tier is high
    And the customer receives dedicated_account_manager, priority_repair_channel, emergency_response_plan, protected_supply
    And the policy priority_repair_channel has response_target_hours = 1.0
    And the policy emergency_response_plan has drill_interval_months = 6
    And the explanation cites rule high-value-service giving priority_repair_channel response_target_hours = 2
    And the explanation cites rule critical-load-protection giving priority_repair_channel response_target_hours = 1
