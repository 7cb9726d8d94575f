"""The membership API (`cdp serve`): a profile's segments over HTTP, from the read-only snapshot."""
