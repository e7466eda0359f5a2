//! Keeping secrets out of `Debug` output: connection strings lose their password, external ids
//! their value. The config types print through these, so a `{:?}` in a log line or a panic
//! message cannot leak them.

use std::fmt;

/// What stands in for a hidden value.
const HIDDEN: &str = "REDACTED";

/// A connection string with its password replaced by `REDACTED`: the password of a
/// `postgres://user:password@host` URL, and any `password` parameter (`?password=...` in a URL,
/// `password=...` in a key=value string). A key=value string that cannot be read is hidden from
/// the point where reading failed, since the password may be in what follows.
pub fn redact_connection_string(text: &str) -> String {
    for prefix in ["postgres://", "postgresql://"] {
        if let Some(rest) = text.strip_prefix(prefix) {
            return format!("{prefix}{}", redact_url(rest));
        }
    }
    if !text.contains('=') {
        return text.to_string(); // a file path (SQLite): no key, so no password
    }
    redact_key_value(text)
}

/// The URL form, split as tokio-postgres splits it: credentials up to the first `@`, then
/// `&`-separated parameters after the next `?`.
fn redact_url(rest: &str) -> String {
    let (credentials, after) = match rest.find('@') {
        Some(at) => (&rest[..at], &rest[at + 1..]),
        None => ("", rest),
    };
    let mut out = String::with_capacity(rest.len());
    if !credentials.is_empty() || rest.contains('@') {
        match credentials.split_once(':') {
            Some((user, _password)) => {
                out.push_str(user);
                out.push(':');
                out.push_str(HIDDEN);
            }
            None => out.push_str(credentials),
        }
        out.push('@');
    }
    let Some((base, query)) = after.split_once('?') else {
        out.push_str(after);
        return out;
    };
    out.push_str(base);
    out.push('?');
    let pairs: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((key, _)) if is_password_key(key) => format!("{key}={HIDDEN}"),
            // A parameter without `=` is malformed: it may be a mistyped password.
            None if !pair.is_empty() => HIDDEN.to_string(),
            _ => pair.to_string(),
        })
        .collect();
    out.push_str(&pairs.join("&"));
    out
}

/// `password` in any case (libpq is case-sensitive, but hiding more costs nothing), or any
/// percent-encoded key, which may spell it.
fn is_password_key(key: &str) -> bool {
    key.eq_ignore_ascii_case("password") || key.contains('%')
}

/// The key=value form: whitespace-separated `key = value` pairs, values optionally in single
/// quotes with backslash escapes. Only the values of `password` are replaced.
fn redact_key_value(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices().peekable();
    let mut copied = 0;
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(key_start, _)) = chars.peek() else {
            break;
        };
        let mut key_end = key_start;
        while let Some((i, c)) = chars.next_if(|(_, c)| !c.is_whitespace() && *c != '=') {
            key_end = i + c.len_utf8();
        }
        let key = &text[key_start..key_end];
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if key.is_empty() || chars.next_if(|(_, c)| *c == '=').is_none() {
            // Unreadable from here on: hide the rest.
            out.push_str(&text[copied..key_start]);
            out.push_str(HIDDEN);
            return out;
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let value_start = chars.peek().map_or(text.len(), |&(i, _)| i);
        let mut value_end = value_start;
        let quoted = chars.next_if(|(_, c)| *c == '\'').is_some();
        let mut closed = !quoted;
        while let Some((i, c)) = chars.next() {
            value_end = i + c.len_utf8();
            match c {
                '\\' => {
                    if let Some((j, escaped)) = chars.next() {
                        value_end = j + escaped.len_utf8();
                    }
                }
                '\'' if quoted => {
                    closed = true;
                    break;
                }
                c if !quoted && c.is_whitespace() => {
                    value_end = i;
                    break;
                }
                _ => {}
            }
        }
        if !closed {
            out.push_str(&text[copied..value_start]);
            out.push_str(HIDDEN);
            return out;
        }
        if key == "password" {
            out.push_str(&text[copied..value_start]);
            out.push_str(HIDDEN);
            copied = value_end;
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// Debug-prints as `"REDACTED"`: a secret's presence shows, not its value.
pub(crate) struct Redacted;

impl fmt::Debug for Redacted {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{HIDDEN:?}")
    }
}

/// Debug-prints a connection string through [`redact_connection_string`].
pub(crate) struct ConnectionString<'a>(pub(crate) &'a str);

impl fmt::Debug for ConnectionString<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", redact_connection_string(self.0))
    }
}

#[cfg(test)]
mod tests {
    use super::redact_connection_string as redact;

    #[test]
    fn url_passwords_are_hidden() {
        assert_eq!(
            redact("postgres://app:s3cret@db:5432/inv?sslmode=require"),
            "postgres://app:REDACTED@db:5432/inv?sslmode=require"
        );
        assert_eq!(
            redact("postgresql://app:a?b@c@db/inv"),
            "postgresql://app:REDACTED@c@db/inv"
        );
        assert_eq!(
            redact("postgres://db/inv?user=app&password=s3cret&sslmode=verify-full"),
            "postgres://db/inv?user=app&password=REDACTED&sslmode=verify-full"
        );
        assert_eq!(
            redact("postgres://db/inv?pass%77ord=s3cret"),
            "postgres://db/inv?pass%77ord=REDACTED"
        );
        assert_eq!(
            redact("postgres://app@db/inv?s3cret"),
            "postgres://app@db/inv?REDACTED"
        );
        assert_eq!(redact("postgres://app@db/inv"), "postgres://app@db/inv");
    }

    #[test]
    fn key_value_passwords_are_hidden() {
        assert_eq!(
            redact("host=db user=app password=s3cret dbname=inv"),
            "host=db user=app password=REDACTED dbname=inv"
        );
        assert_eq!(
            redact("host=db password = 'it\\'s secret' dbname=inv"),
            "host=db password = REDACTED dbname=inv"
        );
        assert_eq!(
            redact("host=db password='unterminated secret"),
            "host=db password=REDACTED"
        );
        assert_eq!(redact("host=db s3cret"), "host=db REDACTED");
        assert_eq!(redact("./inventory.db"), "./inventory.db");
    }
}
