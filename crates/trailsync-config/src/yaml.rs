//! A YAML tree that keeps line numbers, built from `saphyr-parser` events.
//!
//! Scalars stay text: the field that receives one decides whether it is a number, a boolean or a
//! time, so `batch_size: 1000`, `batch_size: "1000"` and `batch_size: ${BATCH}` all work, and an
//! account id keeps its leading zeros. Repeated keys are kept (validation reports them with their
//! path); anchors, aliases and `<<` merge keys are resolved here.

use std::collections::HashMap;

use saphyr_parser::{Event, Parser, ScalarStyle, Span, Tag};

/// Deeper nesting than any config needs; the limit keeps hostile input from exhausting the stack.
const MAX_DEPTH: usize = 64;

/// The most nodes alias expansion may produce in one file (a "billion laughs" guard).
const MAX_ALIAS_NODES: usize = 10_000;

/// A YAML node and the 1-based line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Node {
    pub line: usize,
    pub value: Value,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    /// A scalar's text; `plain` when neither quoted, block-styled nor tagged `!!str`.
    Scalar {
        text: String,
        plain: bool,
    },
    Seq(Vec<Node>),
    /// Entries in file order, repeated keys included.
    Map(Vec<Entry>),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Entry {
    pub key: String,
    pub key_line: usize,
    pub value: Node,
}

impl Node {
    /// YAML's null (`~`, `null`, or nothing at all), which CloudQuery treats as an absent field.
    pub fn is_null(&self) -> bool {
        matches!(&self.value, Value::Scalar { text, plain: true }
            if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
    }

    /// What the node is, for "expected X, found Y" messages.
    pub fn describe(&self) -> &'static str {
        match &self.value {
            _ if self.is_null() => "nothing",
            Value::Scalar { .. } => "a single value",
            Value::Seq(_) => "a list",
            Value::Map(_) => "a mapping",
        }
    }

    fn size(&self) -> usize {
        match &self.value {
            Value::Scalar { .. } => 1,
            Value::Seq(items) => 1 + items.iter().map(Node::size).sum::<usize>(),
            Value::Map(entries) => 1 + entries.iter().map(|e| 1 + e.value.size()).sum::<usize>(),
        }
    }
}

/// The documents of one file, and what stopped or troubled the parse.
#[derive(Debug, Default)]
pub(crate) struct Stream {
    /// One entry per document, `None` for an empty one.
    pub documents: Vec<Option<Node>>,
    /// Problems found while building the tree, with their line.
    pub problems: Vec<(usize, String)>,
}

/// Parses every document of `text`. A syntax error ends the parse: the documents before it are
/// kept, the one it is in is dropped, and the error is one of the problems.
pub(crate) fn parse(text: &str) -> Stream {
    let mut builder = Builder::default();
    for event in Parser::new_from_str(text) {
        let outcome = match event {
            Ok((event, span)) => builder.on_event(event, span),
            Err(e) => Err(Fatal {
                line: e.marker().line(),
                message: format!(
                    "invalid YAML at column {}: {}",
                    e.marker().col() + 1,
                    e.info()
                ),
            }),
        };
        if let Err(fatal) = outcome {
            builder.stream.problems.push((fatal.line, fatal.message));
            break;
        }
    }
    builder.stream
}

/// A problem that makes the rest of the file unreadable.
struct Fatal {
    line: usize,
    message: String,
}

#[derive(Default)]
struct Builder {
    stream: Stream,
    stack: Vec<Frame>,
    root: Option<Node>,
    anchors: HashMap<usize, Node>,
    alias_nodes: usize,
}

/// A collection being built, with the anchor to record it under once complete.
struct Frame {
    line: usize,
    anchor: usize,
    kind: FrameKind,
}

enum FrameKind {
    Seq(Vec<Node>),
    Map { entries: Vec<Entry>, key: Key },
}

/// Mapping events alternate key and value; this is where a mapping stands.
enum Key {
    Awaiting,
    Got(String, usize),
    /// A key that is not a scalar: reported, and its value dropped.
    Dropped,
}

impl Builder {
    fn on_event(&mut self, event: Event<'_>, span: Span) -> Result<(), Fatal> {
        let line = span.start.line();
        match event {
            Event::StreamStart | Event::StreamEnd | Event::Nothing => {}
            Event::DocumentStart(_) => self.root = None,
            Event::DocumentEnd => {
                // An explicit but empty document (`---` then nothing) holds a null.
                let root = self.root.take().filter(|root| !root.is_null());
                self.stream.documents.push(root);
                self.anchors.clear();
            }
            Event::SequenceStart(anchor, _) => {
                self.open(line, anchor, FrameKind::Seq(Vec::new()))?
            }
            Event::MappingStart(anchor, _) => self.open(
                line,
                anchor,
                FrameKind::Map {
                    entries: Vec::new(),
                    key: Key::Awaiting,
                },
            )?,
            Event::SequenceEnd | Event::MappingEnd => {
                if let Some(frame) = self.stack.pop() {
                    let value = match frame.kind {
                        FrameKind::Seq(items) => Value::Seq(items),
                        FrameKind::Map { entries, .. } => Value::Map(self.merge(entries)),
                    };
                    self.complete(
                        Node {
                            line: frame.line,
                            value,
                        },
                        frame.anchor,
                    );
                }
            }
            Event::Scalar(text, style, anchor, tag) => {
                let plain = style == ScalarStyle::Plain && !tag.as_deref().is_some_and(is_str_tag);
                let value = Value::Scalar {
                    text: text.into_owned(),
                    plain,
                };
                self.complete(Node { line, value }, anchor);
            }
            Event::Alias(anchor) => {
                let node = self.resolve_alias(anchor, line)?;
                self.complete(node, 0);
            }
        }
        Ok(())
    }

    fn open(&mut self, line: usize, anchor: usize, kind: FrameKind) -> Result<(), Fatal> {
        if self.stack.len() >= MAX_DEPTH {
            return Err(Fatal {
                line,
                message: format!(
                    "nested more than {MAX_DEPTH} levels deep; a config needs far fewer"
                ),
            });
        }
        self.stack.push(Frame { line, anchor, kind });
        Ok(())
    }

    /// Places a finished node: as the document root, a list item, a mapping key or its value.
    fn complete(&mut self, node: Node, anchor: usize) {
        if anchor > 0 {
            self.anchors.insert(anchor, node.clone());
        }
        let Some(frame) = self.stack.last_mut() else {
            self.root = Some(node);
            return;
        };
        match &mut frame.kind {
            FrameKind::Seq(items) => items.push(node),
            FrameKind::Map { entries, key } => {
                *key = match std::mem::replace(key, Key::Awaiting) {
                    Key::Awaiting => match node.value {
                        Value::Scalar { text, .. } => Key::Got(text, node.line),
                        _ => {
                            let message = format!(
                                "a mapping key must be a name, not {}; this entry is ignored",
                                node.describe()
                            );
                            self.stream.problems.push((node.line, message));
                            Key::Dropped
                        }
                    },
                    Key::Got(key, key_line) => {
                        entries.push(Entry {
                            key,
                            key_line,
                            value: node,
                        });
                        Key::Awaiting
                    }
                    Key::Dropped => Key::Awaiting,
                };
            }
        }
    }

    fn resolve_alias(&mut self, anchor: usize, line: usize) -> Result<Node, Fatal> {
        let Some(node) = self.anchors.get(&anchor) else {
            return Err(Fatal {
                line,
                message: "an alias (*name) refers to no complete anchor (&name) before it; define the anchor first".into(),
            });
        };
        self.alias_nodes += node.size();
        if self.alias_nodes > MAX_ALIAS_NODES {
            return Err(Fatal {
                line,
                message: format!("aliases expand to more than {MAX_ALIAS_NODES} nodes"),
            });
        }
        Ok(Node {
            line,
            value: node.value.clone(),
        })
    }

    /// Applies `<<` merge keys: the merged mappings' entries are added unless the mapping has the
    /// key itself; with a list of mappings, earlier ones win.
    fn merge(&mut self, entries: Vec<Entry>) -> Vec<Entry> {
        let (merges, mut own): (Vec<Entry>, Vec<Entry>) =
            entries.into_iter().partition(|e| e.key == "<<");
        for merge in merges {
            let sources = match merge.value.value {
                Value::Map(entries) => vec![entries],
                Value::Seq(items) => items
                    .into_iter()
                    .filter_map(|item| match item.value {
                        Value::Map(entries) => Some(entries),
                        _ => {
                            self.stream.problems.push((
                                item.line,
                                "`<<` merges mappings only; this item is ignored".into(),
                            ));
                            None
                        }
                    })
                    .collect(),
                _ => {
                    self.stream.problems.push((
                        merge.key_line,
                        "`<<` merges mappings only; it is ignored here".into(),
                    ));
                    Vec::new()
                }
            };
            for entry in sources.into_iter().flatten() {
                if !own.iter().any(|o| o.key == entry.key) {
                    own.push(entry);
                }
            }
        }
        own
    }
}

fn is_str_tag(tag: &Tag) -> bool {
    tag.is_yaml_core_schema() && tag.suffix == "str"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str) -> Value {
        Value::Scalar {
            text: text.into(),
            plain: true,
        }
    }

    fn map(node: &Node) -> Vec<(&str, &Value)> {
        match &node.value {
            Value::Map(entries) => entries
                .iter()
                .map(|e| (e.key.as_str(), &e.value.value))
                .collect(),
            other => panic!("not a map: {other:?}"),
        }
    }

    #[test]
    fn documents_lines_and_empty_documents() {
        let stream = parse("a: 1\n---\n---\n# c\nb:\n  - x\n  - 'y'\n");
        assert!(stream.problems.is_empty(), "{:?}", stream.problems);
        assert_eq!(stream.documents.len(), 3);
        assert!(stream.documents[1].is_none());
        let third = stream.documents[2].as_ref().expect("third document");
        let Value::Map(entries) = &third.value else {
            panic!("map")
        };
        assert_eq!(entries[0].key_line, 5);
        let Value::Seq(items) = &entries[0].value.value else {
            panic!("seq")
        };
        assert_eq!(items[1].line, 7);
        assert_eq!(
            items[1].value,
            Value::Scalar {
                text: "y".into(),
                plain: false
            }
        );
    }

    #[test]
    fn scalars_keep_their_text() {
        let stream = parse("id: 012345678901\nn: ~\ns: !!str 5\nt:\n");
        let doc = stream.documents[0].as_ref().expect("doc");
        let fields = map(doc);
        assert_eq!(fields[0], ("id", &scalar("012345678901")));
        let Value::Map(entries) = &doc.value else {
            panic!()
        };
        assert!(entries[1].value.is_null());
        assert!(!entries[2].value.is_null());
        assert_eq!(
            entries[2].value.value,
            Value::Scalar {
                text: "5".into(),
                plain: false
            }
        );
        assert!(entries[3].value.is_null());
    }

    #[test]
    fn anchors_aliases_and_merge_keys() {
        let text = "base: &b {a: 1, b: 2}\nx:\n  <<: *b\n  b: 3\nl: &l [1]\nm: *l\n";
        let stream = parse(text);
        assert!(stream.problems.is_empty(), "{:?}", stream.problems);
        let doc = stream.documents[0].as_ref().expect("doc");
        let Value::Map(entries) = &doc.value else {
            panic!()
        };
        assert_eq!(
            map(&entries[1].value),
            vec![("b", &scalar("3")), ("a", &scalar("1"))]
        );
        assert_eq!(
            entries[3].value.value,
            Value::Seq(vec![Node {
                line: 5,
                value: scalar("1")
            }])
        );
    }

    #[test]
    fn repeated_keys_are_kept_for_validation() {
        let doc = parse("a: 1\na: 2\n").documents.remove(0).expect("doc");
        assert_eq!(map(&doc), vec![("a", &scalar("1")), ("a", &scalar("2"))]);
    }

    #[test]
    fn syntax_errors_keep_earlier_documents() {
        let stream = parse("a: 1\n---\nb: [1, 2\n");
        assert_eq!(stream.documents.len(), 1);
        assert_eq!(stream.problems.len(), 1);
        assert!(
            stream.problems[0].1.starts_with("invalid YAML"),
            "{:?}",
            stream.problems
        );
    }

    #[test]
    fn hostile_input_is_refused_not_crashed_on() {
        let deep_flow = "[".repeat(100_000);
        assert!(!parse(&deep_flow).problems.is_empty());
        let deep_block: String = (0..200)
            .map(|i| format!("{}a:\n", "  ".repeat(i)))
            .collect();
        let problems = parse(&deep_block).problems;
        assert!(
            problems[0].1.contains("nested more than 64 levels"),
            "{problems:?}"
        );
        let laughs = "a: &a [x, x, x, x, x, x, x, x, x, x]\n\
                      b: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a, *a]\n\
                      c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b, *b]\n\
                      d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c, *c]\n\
                      e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d, *d]\n";
        assert!(parse(laughs).problems[0].1.contains("aliases"));
        let complex = parse("? [a]\n: b\nc: d\n");
        assert!(complex.problems[0].1.contains("mapping key"));
        let doc = complex.documents[0].as_ref().expect("doc");
        assert_eq!(map(doc), vec![("c", &scalar("d"))]);
    }
}
