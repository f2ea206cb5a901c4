Feature: Habitual defaulters are inspected, followed up and penalised
  Customers who default again and again get regular on-site inspection with
  fee collection, a follow-up investigation, the penalties of the standard
  and a security deposit (paper, 3.1).

  Scenario: A habitual defaulter gets the full collection treatment
    Given a residential customer with a clean record
    And the customer is flagged as a habitual defaulter
    And the customer owes 400 in overdue charges
    And the customer has 4 overdue bills in the last 12 months, the longest 35 days late
    When the engine decides
    Then the customer receives on_site_inspection, follow_up_investigation, late_payment_penalty, security_deposit

  Scenario: A theft finding brings a follow-up investigation
    Given a commercial customer with a clean record
    And the customer has 1 theft finding in the last 36 months
    When the engine decides
    Then the customer receives follow_up_investigation
