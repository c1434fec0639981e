//! The `options` table of a port, read with its field and kind named in
//! every error.

use super::*;

pub(super) struct Options<'v, 'a> {
    pub(super) v: &'v Validator<'a>,
    pub(super) raw: &'v BTreeMap<String, Spanned<toml::Value>>,
    pub(super) field: String,
    pub(super) kind: &'v str,
}

impl Options<'_, '_> {
    pub(super) fn bad<T>(&self, key: &str, message: String) -> Result<T, ConfigError> {
        let span = self.raw.get(key).map(|v| v.span()).unwrap_or(0..0);
        self.v.err(span, &format!("{}.{key}", self.field), message)
    }

    pub(super) fn string(&self, key: &str) -> Result<Option<String>, ConfigError> {
        match self.raw.get(key).map(|v| v.get_ref()) {
            None => Ok(None),
            Some(toml::Value::String(s)) => Ok(Some(s.clone())),
            Some(_) => self.bad(
                key,
                format!("option {key} of a {} port must be a string", self.kind),
            ),
        }
    }

    pub(super) fn bool(&self, key: &str) -> Result<Option<bool>, ConfigError> {
        match self.raw.get(key).map(|v| v.get_ref()) {
            None => Ok(None),
            Some(toml::Value::Boolean(b)) => Ok(Some(*b)),
            Some(_) => self.bad(key, format!("option {key} must be true or false")),
        }
    }

    pub(super) fn int(&self, key: &str, range: Range<i64>) -> Result<Option<u32>, ConfigError> {
        match self.raw.get(key).map(|v| v.get_ref()) {
            None => Ok(None),
            Some(toml::Value::Integer(n)) if range.contains(n) => Ok(Some(*n as u32)),
            Some(_) => self.bad(
                key,
                format!(
                    "option {key} must be an integer in {}..{}",
                    range.start,
                    range.end - 1
                ),
            ),
        }
    }
}
