"""The subscriber's personal cabinet: pages, the mobile app's JSON API, family and delegates."""
