//! What to do with a fetch's answer: a pure function from one [`Answer`] to a [`Settlement`] —
//! the rows to upsert and delete, the changes to record as skipped, the claims the write
//! completes, and the work to ask again about (backing off after a failure that passes, or
//! re-checking an id AWS did not return). No I/O here; the processor applies it.

use std::collections::BTreeSet;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use tokio::time::Instant;
use trailsync_catalog::{Deletion, Resource, Table};
use trailsync_core::{Attribution, EventCause, FetchError, Fetched, Location, SkippedChange};

use super::route::{deletion, id_of};
use super::window::{Claim, Group, Want, Work, WorkKey};

/// One batched fetch: the work due for one table at one location.
#[derive(Debug)]
pub(crate) struct Job {
    pub table: &'static Table,
    pub location: Location,
    pub group: Group,
    /// When the fetch started: claims arriving later wait for the window from here.
    pub started: Instant,
    /// Stamped on the rows written from this fetch: AWS's answer is at least this recent.
    pub sync_time: DateTime<Utc>,
}

/// A job and what AWS answered: to the listing (if the job had one) and to the ids (if any).
#[derive(Debug)]
pub(crate) struct Answer {
    pub job: Job,
    pub listed: Option<Result<Fetched, FetchError>>,
    pub fetched: Option<Result<Fetched, FetchError>>,
}

/// Why work goes back to wait.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Again {
    /// The fetch failed for a reason that passes: back off and try again.
    Failed(String),
    /// AWS did not return the id: ask once more after a delay before deleting it.
    Recheck,
}

/// A listing of a whole table that completed: once its rows are committed, the rows of that
/// table and location it did not see are deleted, then its claims are done.
#[derive(Debug)]
pub(crate) struct Refreshed {
    pub table: &'static Table,
    pub location: Location,
    pub claims: Vec<Claim>,
}

/// What one answer means. See the module docs.
#[derive(Debug, Default)]
pub(crate) struct Settlement {
    pub upserts: Vec<Resource>,
    pub deletes: Vec<Deletion>,
    pub skipped: Vec<SkippedChange>,
    /// Claims whose work is in this settlement's writes: done once they commit.
    pub done: Vec<Claim>,
    /// Keys that were fetched or given up on: they cool for the window.
    pub settled: Vec<WorkKey>,
    /// Keys whose claims wait again, and why.
    pub again: Vec<(WorkKey, Vec<Claim>, Again)>,
    pub refreshed: Vec<Refreshed>,
    /// (table, location, id) the writes touch: the reconciliation journal notes them.
    pub touched: Vec<(&'static Table, Location, String)>,
    /// The events behind each resource written, for the change history.
    pub attribution: Attribution,
}

/// Settles one answer; see the module docs.
pub(crate) fn settle(answer: Answer) -> Settlement {
    let Answer {
        job,
        listed,
        fetched,
    } = answer;
    let Job {
        table,
        location,
        group,
        ..
    } = job;
    let key = |want: Want| WorkKey {
        table,
        location: location.clone(),
        want,
    };
    let mut out = Settlement::default();
    if let (Some(work), Some(listed)) = (group.all, listed) {
        match listed {
            Ok(fetched) => {
                out.touch(table, &location, &fetched.resources);
                for id in fetched.resources.iter().filter_map(|r| id_of(table, r)) {
                    out.attribute(table, id, &work.claims);
                }
                out.upserts.extend(fetched.resources);
                let transient = fetched.failed.iter().find(|(_, e)| e.is_transient());
                if let Some((id, error)) = transient {
                    // What was read is written now; the listing (and its deletions) is repeated.
                    out.again.push((
                        key(Want::All),
                        work.claims,
                        Again::Failed(format!("{id}: {error}")),
                    ));
                } else if fetched.failed.is_empty() {
                    out.settled.push(key(Want::All));
                    out.refreshed.push(Refreshed {
                        table,
                        location: location.clone(),
                        claims: work.claims,
                    });
                } else {
                    // Some resources can never be read: skip them; the rest stands, unpruned.
                    for (id, error) in &fetched.failed {
                        out.skip(table, &location, Some(id), &work.claims, error);
                    }
                    out.settled.push(key(Want::All));
                    out.done.extend(work.claims);
                }
            }
            Err(error) if error.is_transient() => {
                out.again.push((
                    key(Want::All),
                    work.claims,
                    Again::Failed(error.to_string()),
                ));
            }
            Err(error) => {
                out.skip(table, &location, None, &work.claims, &error);
                out.settled.push(key(Want::All));
                out.done.extend(work.claims);
            }
        }
    }
    let Some(fetched) = fetched else {
        return out;
    };
    let fetched = match fetched {
        Ok(fetched) => fetched,
        Err(error) => {
            for (id, work) in group.ids {
                out.failed(table, &location, id, work, &error);
            }
            return out;
        }
    };
    let returned: BTreeSet<String> = fetched
        .resources
        .iter()
        .filter_map(|r| id_of(table, r))
        .collect();
    out.touch(table, &location, &fetched.resources);
    out.upserts.extend(fetched.resources);
    let mut failed = fetched.failed;
    for (id, work) in group.ids {
        if returned.contains(&id) {
            out.attribute(table, id.clone(), &work.claims);
            out.settled.push(key(Want::Id(id)));
            out.done.extend(work.claims);
        } else if let Some(at) = failed.iter().position(|(failed_id, _)| *failed_id == id) {
            let (_, error) = failed.swap_remove(at);
            out.failed(table, &location, id, work, &error);
        } else if !work.recheck {
            out.again
                .push((key(Want::Id(id)), work.claims, Again::Recheck));
        } else {
            out.touched.push((table, location.clone(), id.clone()));
            out.attribute(table, id.clone(), &work.claims);
            out.deletes.extend(deletion(table, &location, id.clone()));
            out.settled.push(key(Want::Id(id)));
            out.done.extend(work.claims);
        }
    }
    out
}

impl Settlement {
    /// Work for `id` failed: asked again if the failure passes, recorded as skipped if not.
    fn failed(
        &mut self,
        table: &'static Table,
        location: &Location,
        id: String,
        work: Work,
        error: &FetchError,
    ) {
        let key = WorkKey {
            table,
            location: location.clone(),
            want: Want::Id(id.clone()),
        };
        if error.is_transient() {
            self.again
                .push((key, work.claims, Again::Failed(error.to_string())));
        } else {
            self.skip(table, location, Some(&id), &work.claims, error);
            self.settled.push(key);
            self.done.extend(work.claims);
        }
    }

    /// One skipped-change row per claim (per event asking), or one for work no event asked for.
    fn skip(
        &mut self,
        table: &'static Table,
        location: &Location,
        id: Option<&str>,
        claims: &[Claim],
        error: &FetchError,
    ) {
        tracing::warn!(table = table.name, %location, id = id.unwrap_or("(whole table)"), %error, "change skipped: it cannot be applied; recorded in trailsync_skipped");
        let row = |event_id: Option<String>, event_name: Option<String>| SkippedChange {
            table: table.name,
            resource_id: id.map(str::to_string),
            account_id: location.account_id.clone(),
            region: location.region.clone(),
            event_id,
            event_name,
            reason: error.kind().to_string(),
            error: error.to_string(),
        };
        let mut events: Vec<_> = claims
            .iter()
            .filter_map(|c| c.cause.as_ref())
            .map(|cause| (cause.event_id.clone(), cause.event_name.clone()))
            .collect();
        events.sort();
        events.dedup();
        if events.is_empty() {
            self.skipped.push(row(None, None));
        }
        for (event_id, event_name) in events {
            self.skipped.push(row(event_id, Some(event_name)));
        }
    }

    /// Notes the events of `claims` as the causes of the change to (`table`, `id`).
    fn attribute(&mut self, table: &'static Table, id: String, claims: &[Claim]) {
        let causes: Vec<Arc<EventCause>> = claims.iter().filter_map(|c| c.cause.clone()).collect();
        if !causes.is_empty() {
            self.attribution
                .events
                .entry((table.name, id))
                .or_default()
                .extend(causes);
        }
    }

    fn touch(&mut self, table: &'static Table, location: &Location, resources: &[Resource]) {
        for id in resources.iter().filter_map(|r| id_of(table, r)) {
            self.touched.push((table, location.clone(), id));
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use serde_json::json;
    use trailsync_catalog::Row;
    use trailsync_catalog::tables::ec2;
    use trailsync_core::{EventCause, FetchErrorKind, SequenceNumber};

    use super::*;
    use crate::stream::ledger::Ledger;

    const ACCOUNT: &str = "111122223333";
    const REGION: &str = "us-east-1";

    fn here() -> Location {
        Location::new(ACCOUNT, REGION)
    }

    fn instance(id: &str) -> Resource {
        let object = json!({
            "account_id": ACCOUNT, "region": REGION, "instance_id": id,
            "arn": format!("arn:aws:ec2:{REGION}:{ACCOUNT}:instance/{id}"),
        });
        let row = Row::from_json(&ec2::INSTANCES, object.as_object().expect("object"), None)
            .expect("row");
        Resource::new(row)
    }

    struct Claims(Ledger, u64);

    impl Claims {
        fn new() -> Claims {
            Claims(Ledger::default(), 1)
        }

        fn claim(&mut self, event: &str) -> Claim {
            let seq = SequenceNumber::new(self.1.to_string()).expect("digits");
            self.1 += 1;
            Claim {
                ticket: self
                    .0
                    .record(&Arc::from("s"), 0, seq)
                    .expect("current lease"),
                cause: Some(Arc::new(EventCause {
                    event_id: Some(format!("id-{event}")),
                    event_name: event.into(),
                    ..EventCause::default()
                })),
            }
        }
    }

    fn job(ids: &[(&str, Vec<Claim>, bool)]) -> Job {
        let mut group = Group::default();
        for (id, claims, recheck) in ids {
            group.ids.insert(
                id.to_string(),
                Work {
                    claims: claims.clone(),
                    recheck: *recheck,
                },
            );
        }
        Job {
            table: &ec2::INSTANCES,
            location: here(),
            group,
            started: Instant::now(),
            sync_time: Utc::now(),
        }
    }

    fn answer(job: Job, fetched: Result<Fetched, FetchError>) -> Answer {
        Answer {
            job,
            listed: None,
            fetched: Some(fetched),
        }
    }

    fn wanted(keys: &[WorkKey]) -> Vec<String> {
        keys.iter()
            .map(|k| match &k.want {
                Want::Id(id) => id.clone(),
                Want::All => "*".into(),
            })
            .collect()
    }

    #[test]
    fn found_ids_are_upserted_and_missing_ones_rechecked_then_deleted() {
        let mut claims = Claims::new();
        let job = job(&[
            ("i-1", vec![claims.claim("CreateTags")], false),
            ("i-2", vec![claims.claim("StopInstances")], false),
            ("i-3", vec![claims.claim("TerminateInstances")], true),
        ]);
        let settled = settle(answer(job, Ok(Fetched::all(vec![instance("i-1")]))));
        assert_eq!(settled.upserts.len(), 1);
        assert_eq!(settled.done.len(), 2, "i-1 found, i-3 gone for good");
        assert_eq!(settled.deletes.len(), 1);
        assert_eq!(wanted(&settled.settled), ["i-1", "i-3"]);
        let again: Vec<_> = settled
            .again
            .iter()
            .map(|(k, c, why)| (wanted(std::slice::from_ref(k)), c.len(), why))
            .collect();
        assert_eq!(again, [(vec!["i-2".to_string()], 1, &Again::Recheck)]);
        assert!(settled.skipped.is_empty());
        let touched: Vec<&str> = settled
            .touched
            .iter()
            .map(|(_, _, id)| id.as_str())
            .collect();
        assert_eq!(touched, ["i-1", "i-3"]);
    }

    #[test]
    fn a_transient_failure_holds_every_claim_for_another_try() {
        let mut claims = Claims::new();
        let job = job(&[
            (
                "i-1",
                vec![claims.claim("CreateTags"), claims.claim("CreateTags")],
                false,
            ),
            ("i-2", vec![claims.claim("TerminateInstances")], true),
        ]);
        let throttled = FetchError::new(
            FetchErrorKind::Throttled,
            "DescribeInstances",
            "RequestLimitExceeded",
        );
        let settled = settle(answer(job, Err(throttled)));
        assert!(
            settled.done.is_empty(),
            "nothing finished: no checkpoint passes them"
        );
        assert!(settled.upserts.is_empty() && settled.deletes.is_empty());
        assert!(settled.skipped.is_empty());
        assert_eq!(settled.again.len(), 2);
        assert!(
            settled
                .again
                .iter()
                .all(|(_, _, why)| matches!(why, Again::Failed(_)))
        );
        assert_eq!(
            settled.again.iter().map(|(_, c, _)| c.len()).sum::<usize>(),
            3
        );
    }

    #[test]
    fn a_permanent_failure_is_recorded_once_per_event_and_finished() {
        let mut claims = Claims::new();
        let job = job(&[(
            "i-1",
            vec![
                claims.claim("CreateTags"),
                claims.claim("DeleteTags"),
                claims.claim("CreateTags"),
            ],
            false,
        )]);
        let denied = FetchError::new(
            FetchErrorKind::AccessDenied,
            "DescribeInstances",
            "UnauthorizedOperation",
        );
        let settled = settle(answer(job, Err(denied)));
        assert_eq!(settled.done.len(), 3, "finished: the records may pass");
        assert!(settled.again.is_empty());
        let skipped: Vec<(Option<&str>, Option<&str>, &str)> = settled
            .skipped
            .iter()
            .map(|s| {
                (
                    s.resource_id.as_deref(),
                    s.event_name.as_deref(),
                    s.reason.as_str(),
                )
            })
            .collect();
        assert_eq!(
            skipped,
            [
                (Some("i-1"), Some("CreateTags"), "access denied"),
                (Some("i-1"), Some("DeleteTags"), "access denied"),
            ],
            "one row per distinct event"
        );
        assert!(
            settled
                .skipped
                .iter()
                .all(|s| s.error.contains("UnauthorizedOperation"))
        );
    }

    #[test]
    fn one_failing_id_of_a_batch_does_not_fail_the_others() {
        let mut claims = Claims::new();
        let job = job(&[
            ("admin", vec![claims.claim("PutRolePolicy")], false),
            ("reader", vec![claims.claim("PutRolePolicy")], false),
            ("locked", vec![claims.claim("PutRolePolicy")], false),
        ]);
        let fetched = Fetched {
            resources: vec![instance("admin")],
            failed: vec![
                (
                    "reader".into(),
                    FetchError::new(FetchErrorKind::Throttled, "ListRolePolicies", "Throttling"),
                ),
                (
                    "locked".into(),
                    FetchError::new(FetchErrorKind::AccessDenied, "GetRole", "AccessDenied"),
                ),
            ],
        };
        let settled = settle(answer(job, Ok(fetched)));
        assert_eq!(settled.upserts.len(), 1);
        assert_eq!(wanted(&settled.settled), ["admin", "locked"]);
        assert_eq!(settled.done.len(), 2);
        assert_eq!(settled.skipped.len(), 1);
        assert_eq!(settled.skipped[0].resource_id.as_deref(), Some("locked"));
        assert_eq!(settled.again.len(), 1);
        assert!(matches!(settled.again[0].2, Again::Failed(_)));
    }

    #[test]
    fn a_whole_table_listing_prunes_only_when_complete() {
        let mut claims = Claims::new();
        let listing = |failed: Vec<(String, FetchError)>, claim: Claim| Answer {
            job: Job {
                table: &ec2::INSTANCES,
                location: here(),
                group: Group {
                    ids: Default::default(),
                    all: Some(Work {
                        claims: vec![claim],
                        recheck: false,
                    }),
                },
                started: Instant::now(),
                sync_time: Utc::now(),
            },
            listed: Some(Ok(Fetched {
                resources: vec![instance("i-1"), instance("i-2")],
                failed,
            })),
            fetched: None,
        };
        let complete = settle(listing(Vec::new(), claims.claim("CreateVpc")));
        assert_eq!(complete.upserts.len(), 2);
        assert_eq!(
            complete.refreshed.len(),
            1,
            "rows not seen are deleted after the commit"
        );
        assert!(complete.done.is_empty(), "done only after the pruning");

        let throttled = FetchError::new(FetchErrorKind::Throttled, "GetRole", "Throttling");
        let partial = settle(listing(
            vec![("i-3".into(), throttled)],
            claims.claim("CreateVpc"),
        ));
        assert_eq!(partial.upserts.len(), 2, "what was read is written");
        assert!(
            partial.refreshed.is_empty(),
            "no pruning from a partial listing"
        );
        assert_eq!(partial.again.len(), 1, "the listing is repeated");
    }
}
