Feature: Service follows consumption
  Average consumers get personalised service; large consumers get fast
  response targets (paper, 3.1).

  Scenario Outline: The consumption class decides the service channel
    Given a <class> customer with a clean record
    And the customer uses <kwh> kWh a month
    When the engine decides
    Then the consumption class is <consumption>
    And the customer receives <policy>

    Examples:
      | class       | kwh     | consumption | policy                |
      | residential | 800     | average     | personalised_service  |
      | commercial  | 10000   | average     | personalised_service  |
      | residential | 2500    | large       | fast_response_service |
      | industrial  | 2500000 | large       | fast_response_service |
