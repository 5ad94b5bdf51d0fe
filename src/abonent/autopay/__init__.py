"""Auto top-up: threshold, schedule and renewal rules that charge a linked card."""
