"""The subscriber register: numbers, people, brands, prepaid/postpaid, lifecycle status."""
