"""Self-service cash machines: sessions authorised by IIN, QR or card; notes; one payment."""
