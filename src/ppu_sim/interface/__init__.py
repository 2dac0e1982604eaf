"""The interface as served: operation handlers, request validation, errors rendered as ErrorDetail."""
