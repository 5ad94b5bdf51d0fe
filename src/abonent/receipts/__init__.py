"""Electronic receipts for every payment: share link, PDF, QR, fiscal registration."""
