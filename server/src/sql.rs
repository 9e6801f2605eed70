//! Statement text for lists whose filters come and go: conditions added
//! one by one, each value numbered (`$1`, `$2`…) as it is added, so the
//! text and its binds cannot drift apart. Both engines read `$n`.

use sqlx::{any::AnyArguments, query::Query, Any};

/// A value bound to a numbered parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Int(i64),
    Text(String),
}

#[derive(Default)]
pub struct Conditions {
    sql: Vec<String>,
    values: Vec<Value>,
}

impl Conditions {
    /// Adds a value; its parameter's text (`$n`).
    pub fn value(&mut self, v: Value) -> String {
        self.values.push(v);
        format!("${}", self.values.len())
    }

    pub fn int(&mut self, v: i64) -> String {
        self.value(Value::Int(v))
    }

    pub fn text(&mut self, v: impl Into<String>) -> String {
        self.value(Value::Text(v.into()))
    }

    /// Adds a condition the rows must meet.
    pub fn push(&mut self, condition: impl Into<String>) {
        self.sql.push(condition.into());
    }

    /// `WHERE a AND b`, or nothing when there is no condition.
    pub fn where_clause(&self) -> String {
        if self.sql.is_empty() {
            String::new()
        } else {
            format!("WHERE {}", self.sql.join(" AND "))
        }
    }

    /// Binds the values, in their order, to a query of this text.
    pub fn bind<'q>(
        &'q self,
        mut q: Query<'q, Any, AnyArguments<'q>>,
    ) -> Query<'q, Any, AnyArguments<'q>> {
        for v in &self.values {
            q = match v {
                Value::Int(i) => q.bind(*i),
                Value::Text(t) => q.bind(t.as_str()),
            };
        }
        q
    }
}

/// `%text%` for `LIKE … ESCAPE '\'`, lowercased, its wildcards taken
/// literally. SQLite's `lower()` folds ASCII only, so a search is
/// case-insensitive for ASCII letters on both engines.
pub fn contains_pattern(text: &str) -> String {
    let mut p = String::from("%");
    for c in text.to_lowercase().chars() {
        if matches!(c, '%' | '_' | '\\') {
            p.push('\\');
        }
        p.push(c);
    }
    p.push('%');
    p
}

/// `lower(column) LIKE $n ESCAPE '\'` for each column, any of them.
pub fn any_contains(c: &mut Conditions, columns: &[&str], text: &str) {
    let n = c.text(contains_pattern(text));
    let each: Vec<String> = columns
        .iter()
        .map(|col| format!("lower({col}) LIKE {n} ESCAPE '\\'"))
        .collect();
    c.push(format!("({})", each.join(" OR ")));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_search_takes_wildcards_literally() {
        assert_eq!(contains_pattern("Boiler"), "%boiler%");
        assert_eq!(contains_pattern("50%_a\\b"), "%50\\%\\_a\\\\b%");
    }

    #[test]
    fn values_are_numbered_as_they_come() {
        let mut c = Conditions::default();
        let a = c.int(1);
        c.push(format!("x = {a}"));
        any_contains(&mut c, &["name", "id"], "B");
        assert_eq!(
            c.where_clause(),
            "WHERE x = $1 AND (lower(name) LIKE $2 ESCAPE '\\' OR lower(id) LIKE $2 ESCAPE '\\')"
        );
        assert_eq!(c.values, [Value::Int(1), Value::Text("%b%".into())]);
    }
}
