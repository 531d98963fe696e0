/** Named domain errors; routes map them to HTTP statuses in one place. */
export class DeskError extends Error {
  constructor(
    readonly status: 400 | 401 | 403 | 404 | 408 | 409 | 413 | 415 | 422 | 429,
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
export class Invalid extends DeskError {
  constructor(code: string, message: string, readonly fields: Record<string, string> = {}) {
    super(400, code, message);
  }
}
export class Unauthorized extends DeskError {
  constructor(message = "Sign in first.") {
    super(401, "unauthorized", message);
  }
}
export class Forbidden extends DeskError {
  constructor(message = "You may not do that.") {
    super(403, "forbidden", message);
  }
}
export class NotFound extends DeskError {
  constructor(what: string) {
    super(404, "not_found", `${what} not found.`);
  }
}
export class Conflict extends DeskError {
  constructor(code: string, message: string) {
    super(409, code, message);
  }
}
export class TooLarge extends DeskError {
  constructor(code: string, message: string) {
    super(413, code, message);
  }
}
/** Rule 51: a file of a type the route cannot carry. */
export class UnsupportedType extends DeskError {
  constructor(code: string, message: string) {
    super(415, code, message);
  }
}
export class Unprocessable extends DeskError {
  /** `fields`: what is missing, for answers that name them (`channel_incomplete`). */
  constructor(code: string, message: string, readonly fields: string[] = []) {
    super(422, code, message);
  }
}
export class TooManyRequests extends DeskError {
  constructor(message: string, readonly retryAfterSeconds: number) {
    super(429, "rate_limited", message);
  }
}
