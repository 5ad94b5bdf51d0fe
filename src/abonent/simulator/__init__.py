"""The phone simulator page: dial USSD, read SMS, as the network would."""
