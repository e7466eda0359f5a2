//! Connection security against real servers: PostgreSQL over TLS (a private server with its own
//! certificates) and secrets kept out of every message.

mod secrets;
mod tls;
