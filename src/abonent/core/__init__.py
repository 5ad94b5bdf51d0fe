"""Framework-free building blocks shared by every feature: money, numbers, time, errors."""
