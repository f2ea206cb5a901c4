Feature: Repeated overdue bills mark a habitual defaulter
  Three overdue bills within 12 months mark a habitual defaulter; the mark
  clears after 12 months without an overdue bill. The mark feeds the next
  decision through the same tables as a habitual_defaulter flag.

  Scenario: Three overdue bills within 12 months
    Given customer "H1" has bills that fell overdue on 2026-01-10, 2026-04-10 and 2026-08-10
    Then the customer is a habitual defaulter on 2026-08-11
    And the habitual-defaulter mark names 3 overdue events
    And the decision on 2026-09-01 grants on_site_inspection naming the overdue events

  Scenario: Three overdue bills spread over 3 years
    Given customer "H2" has bills that fell overdue on 2023-01-10, 2024-06-10 and 2025-12-10
    Then the customer is not a habitual defaulter on 2026-01-01

  Scenario: The mark clears after 12 clean months
    Given customer "H3" has bills that fell overdue on 2025-01-10, 2025-03-10 and 2025-05-10
    Then the customer is a habitual defaulter on 2026-05-09
    And the customer is not a habitual defaulter on 2026-05-11
