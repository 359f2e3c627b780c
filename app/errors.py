"""Domain errors; the web layer turns them into HTTP answers with the same message."""


class DomainError(Exception):
    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class Invalid(DomainError):
    status_code = 422


class Gone(DomainError):
    status_code = 410
