//! The behavioural suite every [`SessionStore`] / [`MessageQueue`] backend must pass.
//!
//! Each function checks one guarantee from the traits' docs. Tests isolate themselves with a
//! random entity id, so they run in parallel against one shared backend with no cleanup.
//! Stamp them all into a backend's test module with [`store_test_suite!`](crate::store_test_suite):
//!
//! ```ignore
//! fastmcp_core::store_test_suite!(async { my_backend_stores().await });
//! ```

// Assertions by unwrap are the point of a test suite.
#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use serde_json::json;

use crate::ids::{EntityId, SessionId};
use crate::protocol::LoggingLevel;
use crate::storage::StoreError;
use crate::storage::{
    ApiKeyRecord, EntityConfig, EntityLimits, LogKind, LogRecord, SessionRecord, StreamKey,
    Visibility,
};

/// A backend under test: every storage role, usually played by one value.
pub use crate::storage::Stores;

/// The URL of an external backend for tests, from the environment variable `var`. `None` (the
/// caller skips) when it is unset, except under CI, where a required backend that is missing is
/// a failure rather than a silent skip.
pub fn backend_url(var: &str) -> Option<String> {
    match std::env::var(var) {
        Ok(url) => Some(url),
        Err(_) => {
            assert!(
                std::env::var("CI").is_err(),
                "CI must provide {var} (scripts/test.sh starts the backend)"
            );
            eprintln!("skipped: {var} is not set");
            None
        }
    }
}

const TTL: Duration = Duration::from_secs(60);

/// A random entity id, unique per test.
pub fn random_entity() -> EntityId {
    let id = format!("t-{}", uuid::Uuid::new_v4().simple());
    EntityId::parse(&id).expect("generated entity ids are valid")
}

async fn new_session(s: &Stores, entity: &EntityId) -> SessionRecord {
    let mut rec = SessionRecord::new(entity.clone());
    rec.protocol_version = Some("2025-11-25".into());
    std::sync::Arc::make_mut(&mut rec.state).insert("k".into(), json!({"nested": [1, 2, 3]}));
    s.sessions.create(rec, TTL).await.expect("create")
}

/// create → load returns the same record at version 1; another entity sees nothing.
pub async fn session_round_trip(s: Stores) {
    let e = random_entity();
    let rec = new_session(&s, &e).await;
    assert_eq!(rec.version, 1);
    let loaded = s
        .sessions
        .load(&e, &rec.id)
        .await
        .unwrap()
        .expect("present");
    assert_eq!(loaded, rec);
    let touched = s
        .sessions
        .load_and_touch(&e, &rec.id, TTL)
        .await
        .unwrap()
        .expect("present");
    assert_eq!(touched, rec);
    let other = random_entity();
    assert!(s.sessions.load(&other, &rec.id).await.unwrap().is_none());
    assert!(s
        .sessions
        .load_and_touch(&other, &rec.id, TTL)
        .await
        .unwrap()
        .is_none());
    assert!(s
        .sessions
        .load(&e, &SessionId::new_random())
        .await
        .unwrap()
        .is_none());
}

/// Many concurrent loads, mixing live sessions, foreign entities and unknown ids, each get
/// their own answer (backends that coalesce reads must not mix them up).
pub async fn concurrent_loads_get_their_own_record(s: Stores) {
    let e = random_entity();
    let other = random_entity();
    let mut sessions = Vec::new();
    for i in 0..24 {
        let mut rec = SessionRecord::new(e.clone());
        std::sync::Arc::make_mut(&mut rec.state).insert("i".into(), json!(i));
        sessions.push(s.sessions.create(rec, TTL).await.unwrap());
    }
    let loads = (0..3).flat_map(|round| {
        sessions
            .iter()
            .enumerate()
            .map(move |(i, rec)| (round, i, rec.id))
    });
    let results = futures::future::join_all(loads.map(|(round, i, id)| {
        let (s, e, other) = (s.clone(), e.clone(), other.clone());
        async move {
            let (entity, id) = match (round + i) % 3 {
                0 => (e, id),
                1 => (other, id),
                _ => (e, SessionId::new_random()),
            };
            let got = s.sessions.load_and_touch(&entity, &id, TTL).await.unwrap();
            ((round + i) % 3, i, got)
        }
    }))
    .await;
    for (kind, i, got) in results {
        match kind {
            0 => assert_eq!(got.expect("own session").state.get("i"), Some(&json!(i))),
            _ => assert!(got.is_none(), "kind {kind} for session {i}: {got:?}"),
        }
    }
}

/// Concurrent `get_or_create` calls with different proposals all get the one stored secret,
/// and a later call never replaces it.
pub async fn keys_are_created_once(s: Stores) {
    let name = format!("test-key-{}", uuid::Uuid::new_v4().simple());
    let got = futures::future::join_all((0u8..8).map(|i| {
        let (keys, name) = (Arc::clone(&s.keys), name.clone());
        async move { keys.get_or_create(&name, &[i; 32]).await.unwrap() }
    }))
    .await;
    assert!(got.iter().all(|k| k == &got[0]), "{got:?}");
    assert_eq!(got[0].len(), 32);
    assert_eq!(
        s.keys.get_or_create(&name, &[99; 32]).await.unwrap(),
        got[0]
    );
    let other = s
        .keys
        .get_or_create(&format!("{name}-2"), &[7; 16])
        .await
        .unwrap();
    assert_eq!(other, vec![7; 16]);
}

/// API keys: found by hash, listed and revoked per entity only, unique per (entity, id).
pub async fn api_keys_are_scoped_and_revocable(s: Stores) {
    let e = random_entity();
    let other = random_entity();
    let key = |id: &str, entity: &EntityId, n: u64| ApiKeyRecord {
        id: id.into(),
        entity: entity.clone(),
        name: format!("key {id}"),
        scopes: vec!["tools:call".into()],
        hash: format!(
            "{:064x}",
            u128::from_le_bytes(*uuid::Uuid::new_v4().as_bytes())
        ),
        created_at_ms: n,
    };
    let (a, b, c) = (key("a", &e, 1), key("b", &e, 2), key("a", &other, 3));
    for k in [&a, &b, &c] {
        s.api_keys.put_key(k).await.unwrap();
    }
    let dup = ApiKeyRecord {
        hash: format!("{}0", &a.hash[1..]),
        ..a.clone()
    };
    assert!(matches!(
        s.api_keys.put_key(&dup).await,
        Err(StoreError::Conflict(_))
    ));
    assert_eq!(
        s.api_keys.key_by_hash(&a.hash).await.unwrap(),
        Some(a.clone())
    );
    assert_eq!(
        s.api_keys.list_keys(&e).await.unwrap(),
        vec![a.clone(), b.clone()]
    );
    // Revoking under another entity does nothing.
    assert!(!s.api_keys.revoke_key(&other, "b").await.unwrap());
    assert!(s.api_keys.revoke_key(&e, "a").await.unwrap());
    assert!(!s.api_keys.revoke_key(&e, "a").await.unwrap());
    assert_eq!(s.api_keys.key_by_hash(&a.hash).await.unwrap(), None);
    assert_eq!(s.api_keys.list_keys(&e).await.unwrap(), vec![b]);
    assert_eq!(s.api_keys.key_by_hash(&c.hash).await.unwrap(), Some(c));
}

/// Limit counters: concurrent hits each get their own count; slots never exceed the limit,
/// come back on release, and free themselves when their lease runs out.
pub async fn limits_count_atomically_and_slots_expire(s: Stores) {
    let key = format!("t-{}", uuid::Uuid::new_v4().simple());
    let hour = Duration::from_secs(3600);
    let mut counts: Vec<u64> = futures::future::join_all((0..10).map(|_| {
        let (limits, key) = (Arc::clone(&s.limits), key.clone());
        async move { limits.hit(&key, hour).await.unwrap().0 }
    }))
    .await;
    counts.sort_unstable();
    // Ten distinct counts (a window boundary in between restarts at 1; an hour makes that rare
    // and still leaves them distinct within each window).
    assert!(
        counts == (1..=10).collect::<Vec<_>>() || counts[0] == 1,
        "{counts:?}"
    );
    let (_, left) = s.limits.hit(&key, hour).await.unwrap();
    assert!(left <= hour && left > Duration::ZERO);

    let slots = format!("{key}-slots");
    let lease = Duration::from_secs(60);
    let taken = futures::future::join_all((0..5).map(|_| {
        let (limits, slots) = (Arc::clone(&s.limits), slots.clone());
        async move { limits.acquire(&slots, 2, lease).await.unwrap() }
    }))
    .await;
    let held: Vec<String> = taken.into_iter().flatten().collect();
    assert_eq!(held.len(), 2, "exactly the limit is handed out");
    assert!(s.limits.acquire(&slots, 2, lease).await.unwrap().is_none());
    s.limits.release(&slots, &held[0]).await.unwrap();
    assert!(s.limits.acquire(&slots, 2, lease).await.unwrap().is_some());

    let short = format!("{key}-short");
    assert!(s
        .limits
        .acquire(&short, 1, Duration::from_millis(200))
        .await
        .unwrap()
        .is_some());
    assert!(s.limits.acquire(&short, 1, lease).await.unwrap().is_none());
    tokio::time::sleep(Duration::from_millis(350)).await;
    assert!(
        s.limits.acquire(&short, 1, lease).await.unwrap().is_some(),
        "an expired lease frees its slot"
    );
}

/// Entity configurations: replaced whole, cleared with `None`, scoped to their entity.
pub async fn entity_configs_are_replaced_and_scoped(s: Stores) {
    let (e, other) = (random_entity(), random_entity());
    assert_eq!(s.entity_configs.entity_config(&e).await.unwrap(), None);
    let first = EntityConfig {
        tools: Visibility {
            allow: Some(vec!["echo".into()]),
            hide: vec![],
        },
        ..EntityConfig::default()
    };
    s.entity_configs
        .set_entity_config(&e, Some(&first))
        .await
        .unwrap();
    let second = EntityConfig {
        prompts: Visibility {
            allow: None,
            hide: vec!["p".into()],
        },
        // Limits round-trip too, `Some(0)` (no limit) distinct from `None` (server default).
        limits: EntityLimits {
            requests_per_second: Some(5),
            concurrent_calls: Some(0),
            max_sessions: None,
        },
        ..EntityConfig::default()
    };
    s.entity_configs
        .set_entity_config(&e, Some(&second))
        .await
        .unwrap();
    assert_eq!(
        s.entity_configs.entity_config(&e).await.unwrap(),
        Some(second)
    );
    assert_eq!(s.entity_configs.entity_config(&other).await.unwrap(), None);
    s.entity_configs.set_entity_config(&e, None).await.unwrap();
    assert_eq!(s.entity_configs.entity_config(&e).await.unwrap(), None);
}

/// Creating an existing id is a conflict and leaves the original untouched.
pub async fn create_conflict(s: Stores) {
    let e = random_entity();
    let rec = new_session(&s, &e).await;
    let mut dup = rec.clone();
    std::sync::Arc::make_mut(&mut dup.state).clear();
    let err = s.sessions.create(dup, TTL).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    assert_eq!(
        s.sessions.load(&e, &rec.id).await.unwrap().unwrap().state,
        rec.state
    );
}

/// save is compare-and-swap on `version`.
pub async fn save_is_compare_and_swap(s: Stores) {
    let e = random_entity();
    let mut rec = new_session(&s, &e).await;
    let stale = rec.clone();
    std::sync::Arc::make_mut(&mut rec.state).insert("a".into(), json!(1));
    let v = s.sessions.save(&rec, TTL).await.unwrap();
    assert_eq!(v, 2);
    let mut stale2 = stale.clone();
    std::sync::Arc::make_mut(&mut stale2.state).insert("b".into(), json!(2));
    let err = s.sessions.save(&stale2, TTL).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict(_)), "{err:?}");
    let loaded = s.sessions.load(&e, &rec.id).await.unwrap().unwrap();
    assert_eq!(loaded.version, 2);
    assert_eq!(loaded.state.get("a"), Some(&json!(1)));
    assert!(loaded.state.get("b").is_none());
}

/// Concurrent savers of the same version: exactly one wins.
pub async fn concurrent_saves_one_winner(s: Stores) {
    let e = random_entity();
    let rec = new_session(&s, &e).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let s = s.clone();
        let mut r = rec.clone();
        std::sync::Arc::make_mut(&mut r.state).insert("writer".into(), json!(i));
        tasks.push(tokio::spawn(async move { s.sessions.save(&r, TTL).await }));
    }
    let mut wins = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(v) => {
                assert_eq!(v, 2);
                wins += 1
            }
            Err(StoreError::Conflict(_)) => {}
            Err(other) => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(wins, 1);
}

/// Saving a record that does not exist is NotFound (also under a foreign entity).
pub async fn save_missing_is_not_found(s: Stores) {
    let e = random_entity();
    let mut rec = SessionRecord::new(e.clone());
    rec.version = 1;
    assert!(matches!(
        s.sessions.save(&rec, TTL).await,
        Err(StoreError::NotFound(_))
    ));
    let created = new_session(&s, &e).await;
    let mut foreign = created.clone();
    foreign.entity = random_entity();
    assert!(matches!(
        s.sessions.save(&foreign, TTL).await,
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(
        s.sessions
            .load(&e, &created.id)
            .await
            .unwrap()
            .unwrap()
            .version,
        1
    );
}

/// Records expire after their TTL; touch restarts it.
pub async fn ttl_expiry_and_touch(s: Stores) {
    let e = random_entity();
    let short = Duration::from_millis(1500);
    let a = s
        .sessions
        .create(SessionRecord::new(e.clone()), short)
        .await
        .unwrap();
    let b = s
        .sessions
        .create(SessionRecord::new(e.clone()), short)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(s.sessions.touch(&e, &b.id, short).await.unwrap());
    tokio::time::sleep(Duration::from_millis(900)).await;
    assert!(
        s.sessions.load(&e, &a.id).await.unwrap().is_none(),
        "a expired"
    );
    assert!(
        s.sessions.load(&e, &b.id).await.unwrap().is_some(),
        "b was touched"
    );
    assert!(!s.sessions.touch(&e, &a.id, short).await.unwrap());
    assert_eq!(
        s.sessions.count(&e).await.unwrap(),
        1,
        "expired records are not counted"
    );
}

/// delete is idempotent and entity-scoped.
pub async fn delete_is_idempotent_and_scoped(s: Stores) {
    let e = random_entity();
    let rec = new_session(&s, &e).await;
    assert!(!s.sessions.delete(&random_entity(), &rec.id).await.unwrap());
    assert!(!s
        .sessions
        .touch(&random_entity(), &rec.id, TTL)
        .await
        .unwrap());
    assert!(s.sessions.load(&e, &rec.id).await.unwrap().is_some());
    assert!(s.sessions.delete(&e, &rec.id).await.unwrap());
    assert!(!s.sessions.delete(&e, &rec.id).await.unwrap());
    assert!(s.sessions.load(&e, &rec.id).await.unwrap().is_none());
}

/// list pages through one entity's sessions in id order, and only those; count agrees.
pub async fn list_paginates_per_entity(s: Stores) {
    let e = random_entity();
    let other = random_entity();
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(new_session(&s, &e).await.id);
    }
    new_session(&s, &other).await;
    ids.sort();
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    for _ in 0..10 {
        let page = s.sessions.list(&e, cursor.as_deref(), 2).await.unwrap();
        assert!(page.sessions.len() <= 2);
        seen.extend(page.sessions.iter().map(|r| r.id));
        cursor = page.next_cursor;
        if cursor.is_none() {
            break;
        }
    }
    assert_eq!(seen, ids);
    assert_eq!(s.sessions.count(&e).await.unwrap(), 5);
    assert_eq!(s.sessions.count(&other).await.unwrap(), 1);
    assert_eq!(s.sessions.count(&random_entity()).await.unwrap(), 0);
    assert!(s.sessions.delete(&e, &ids[0]).await.unwrap());
    assert_eq!(s.sessions.count(&e).await.unwrap(), 4);
    assert!(s
        .sessions
        .list(&random_entity(), None, 10)
        .await
        .unwrap()
        .sessions
        .is_empty());
}

/// Published events replay in order with strictly increasing ids.
pub async fn publish_and_replay_in_order(s: Stores) {
    let e = random_entity();
    let stream = StreamKey::new(SessionId::new_random(), "sse");
    let mut ids = Vec::new();
    for i in 0..10 {
        ids.push(
            s.queue
                .publish(&e, &stream, &json!({ "i": i }))
                .await
                .unwrap(),
        );
    }
    let all = s.queue.replay_after(&e, &stream, None).await.unwrap();
    assert_eq!(all.len(), 10);
    for (i, ev) in all.iter().enumerate() {
        assert_eq!(ev.message, json!({ "i": i }));
        assert_eq!(ev.id, ids[i]);
        assert!(!ev.id.0.contains('/'));
    }
    let tail = s
        .queue
        .replay_after(&e, &stream, Some(&ids[4]))
        .await
        .unwrap();
    assert_eq!(
        tail.iter()
            .map(|e| e.message["i"].as_i64().unwrap())
            .collect::<Vec<_>>(),
        vec![5, 6, 7, 8, 9]
    );
    assert!(s
        .queue
        .replay_after(&e, &stream, Some(&ids[9]))
        .await
        .unwrap()
        .is_empty());
}

/// Streams are scoped by entity and by name.
pub async fn streams_are_isolated(s: Stores) {
    let e = random_entity();
    let session = SessionId::new_random();
    let a = StreamKey::new(session, "a");
    s.queue.publish(&e, &a, &json!(1)).await.unwrap();
    assert!(s
        .queue
        .replay_after(&random_entity(), &a, None)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .queue
        .replay_after(&e, &StreamKey::new(session, "b"), None)
        .await
        .unwrap()
        .is_empty());
    assert!(s
        .queue
        .replay_after(&e, &StreamKey::new(SessionId::new_random(), "a"), None)
        .await
        .unwrap()
        .is_empty());
}

/// subscribe replays after the given id, then delivers live events, then ends on close.
pub async fn subscribe_replays_then_follows(s: Stores) {
    let e = random_entity();
    let stream = StreamKey::new(SessionId::new_random(), "post-1");
    let first = s.queue.publish(&e, &stream, &json!(0)).await.unwrap();
    s.queue.publish(&e, &stream, &json!(1)).await.unwrap();
    let mut sub = s.queue.subscribe(&e, &stream, Some(first)).await.unwrap();
    let q = s.queue.clone();
    let (e2, st2) = (e.clone(), stream.clone());
    let publisher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        for i in 2..5 {
            q.publish(&e2, &st2, &json!(i)).await.unwrap();
        }
        q.close(&e2, &st2).await.unwrap();
    });
    let mut got = Vec::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while let Ok(Some(ev)) = tokio::time::timeout_at(deadline, sub.next()).await {
        got.push(ev.unwrap().message.as_i64().unwrap());
    }
    publisher.await.unwrap();
    assert_eq!(
        got,
        vec![1, 2, 3, 4],
        "replay, then live, then end on close"
    );
}

/// Concurrent publishers: nothing lost, nothing duplicated, each publisher's order kept.
pub async fn concurrent_publishers(s: Stores) {
    let e = random_entity();
    let stream = StreamKey::new(SessionId::new_random(), "sse");
    let mut tasks = Vec::new();
    for p in 0..4 {
        let s = s.clone();
        let (e, stream) = (e.clone(), stream.clone());
        tasks.push(tokio::spawn(async move {
            for i in 0..25 {
                s.queue
                    .publish(&e, &stream, &json!({"p": p, "i": i}))
                    .await
                    .unwrap();
            }
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let all = s.queue.replay_after(&e, &stream, None).await.unwrap();
    assert_eq!(all.len(), 100);
    let ids: std::collections::HashSet<_> = all.iter().map(|e| e.id.clone()).collect();
    assert_eq!(ids.len(), 100);
    for p in 0..4 {
        let seq: Vec<i64> = all
            .iter()
            .filter(|e| e.message["p"] == p)
            .map(|e| e.message["i"].as_i64().unwrap())
            .collect();
        assert_eq!(seq, (0..25).collect::<Vec<_>>());
    }
}

/// delete_session drops the session's streams and ends live subscribers.
pub async fn delete_session_ends_streams(s: Stores) {
    let e = random_entity();
    let session = SessionId::new_random();
    let stream = StreamKey::new(session, "get");
    s.queue.publish(&e, &stream, &json!(1)).await.unwrap();
    let mut sub = s.queue.subscribe(&e, &stream, None).await.unwrap();
    let first = tokio::time::timeout(Duration::from_secs(5), sub.next())
        .await
        .unwrap();
    assert_eq!(first.unwrap().unwrap().message, json!(1));
    s.queue.delete_session(&e, &session).await.unwrap();
    let end = tokio::time::timeout(Duration::from_secs(10), sub.next())
        .await
        .expect("ends");
    assert!(end.is_none() || end.as_ref().is_some_and(|r| r.is_err()));
    assert!(s
        .queue
        .replay_after(&e, &stream, None)
        .await
        .unwrap()
        .is_empty());
}

/// Replies reach the waiter whichever comes first, once, and only under the right entity.
pub async fn replies_are_routed_once(s: Stores) {
    let e = random_entity();
    let session = SessionId::new_random();
    // Reply before anyone waits: kept.
    s.queue
        .deliver_reply(&e, &session, "s:1", &json!({"result": 1}))
        .await
        .unwrap();
    assert!(s
        .queue
        .take_reply(
            &random_entity(),
            &session,
            "s:1",
            Duration::from_millis(100)
        )
        .await
        .unwrap()
        .is_none());
    let got = s
        .queue
        .take_reply(&e, &session, "s:1", Duration::from_secs(5))
        .await
        .unwrap();
    assert_eq!(got, Some(json!({"result": 1})));
    let again = s
        .queue
        .take_reply(&e, &session, "s:1", Duration::from_millis(200))
        .await
        .unwrap();
    assert_eq!(again, None, "taken once");
    // Waiter first.
    let q = s.queue.clone();
    let e2 = e.clone();
    let waiter = tokio::spawn(async move {
        q.take_reply(&e2, &session, "s:2", Duration::from_secs(10))
            .await
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    s.queue
        .deliver_reply(&e, &session, "s:2", &json!({"result": 2}))
        .await
        .unwrap();
    assert_eq!(waiter.await.unwrap().unwrap(), Some(json!({"result": 2})));
}

/// Log records come back newest first, scoped by entity and optionally by session.
pub async fn logs_are_scoped_and_newest_first(s: Stores) {
    let e = random_entity();
    let (a, b) = (SessionId::new_random(), SessionId::new_random());
    for (i, session) in [a, b, a].into_iter().enumerate() {
        let rec = LogRecord {
            entity: e.clone(),
            session: Some(session),
            kind: LogKind::Log,
            level: LoggingLevel::Info,
            message: format!("m{i}"),
            data: json!({ "i": i }),
            created_at_ms: crate::storage::now_ms(),
        };
        s.logs.append(&rec).await.unwrap();
    }
    let all = s.logs.recent(&e, None, 10).await.unwrap();
    assert_eq!(
        all.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(),
        ["m2", "m1", "m0"]
    );
    let of_a = s.logs.recent(&e, Some(&a), 10).await.unwrap();
    assert_eq!(
        of_a.iter().map(|r| r.message.as_str()).collect::<Vec<_>>(),
        ["m2", "m0"]
    );
    assert_eq!(of_a[0].data, json!({ "i": 2 }));
    assert_eq!(s.logs.recent(&e, None, 1).await.unwrap().len(), 1);
    assert!(s
        .logs
        .recent(&random_entity(), None, 10)
        .await
        .unwrap()
        .is_empty());
}

fn catalog_prompt(name: &str, text: &str) -> crate::catalog::CatalogItem {
    serde_json::from_value(json!({
        "kind": "prompt", "name": name,
        "messages": [{"role": "user", "text": text}]
    }))
    .unwrap()
}

fn catalog_resource(uri: &str) -> crate::catalog::CatalogItem {
    serde_json::from_value(json!({"kind": "resource", "uri": uri, "name": "r", "text": "x"}))
        .unwrap()
}

/// Catalog items: create refuses a clash, upsert replaces in place, delete removes once, every
/// write moves the scope's version and the epoch, snapshots match their version, and scopes
/// (two entities and the global one) never see each other's items.
pub async fn catalog_items_are_versioned_and_scoped(s: Stores) {
    use crate::catalog::{CatalogKind, CatalogScope};
    use crate::storage::PutMode;
    let a = CatalogScope::Entity(random_entity());
    let b = CatalogScope::Entity(random_entity());
    let c = &s.catalog;
    assert_eq!(c.catalog(&a).await.unwrap().version, 0);
    assert_eq!(
        c.catalog_versions(std::slice::from_ref(&a)).await.unwrap(),
        vec![0]
    );
    let e0 = c.catalog_epoch().await.unwrap();

    let v1 = c
        .put_catalog_item(&a, &catalog_prompt("p", "one"), PutMode::Create, 10)
        .await
        .unwrap();
    let v2 = c
        .put_catalog_item(&a, &catalog_resource("notes://r"), PutMode::Create, 10)
        .await
        .unwrap();
    assert!(v2 > v1 && v1 > 0, "{v1} {v2}");
    let e1 = c.catalog_epoch().await.unwrap();
    assert!(
        e1 >= e0 + 2,
        "the epoch moves with every write: {e0} → {e1}"
    );

    // A same-named item of another kind is another item; the same kind and key is a clash.
    let clash = c
        .put_catalog_item(&a, &catalog_prompt("p", "two"), PutMode::Create, 10)
        .await
        .unwrap_err();
    assert!(matches!(clash, StoreError::Conflict(_)), "{clash:?}");
    assert_eq!(
        c.catalog(&a).await.unwrap().version,
        v2,
        "a refused write changes nothing"
    );

    let v3 = c
        .put_catalog_item(&a, &catalog_prompt("p", "two"), PutMode::Upsert, 10)
        .await
        .unwrap();
    assert!(v3 > v2);
    let snap = c.catalog(&a).await.unwrap();
    assert_eq!(snap.version, v3);
    assert_eq!(snap.items.len(), 2);
    assert_eq!(
        snap.items[0],
        catalog_prompt("p", "two"),
        "replaced in place, in creation order"
    );

    // Scopes are isolated: b and the global scope see nothing of a's.
    assert!(c.catalog(&b).await.unwrap().items.is_empty());
    let g = c.catalog(&CatalogScope::Global).await.unwrap();
    assert!(!g.items.iter().any(|i| i == &catalog_prompt("p", "two")));
    assert_eq!(
        c.delete_catalog_item(&b, CatalogKind::Prompt, "p")
            .await
            .unwrap(),
        None,
        "another entity cannot delete it"
    );
    c.put_catalog_item(&b, &catalog_prompt("p", "b's"), PutMode::Create, 10)
        .await
        .unwrap();
    assert_eq!(
        c.catalog(&a).await.unwrap().items[0],
        catalog_prompt("p", "two")
    );

    let vd = c
        .delete_catalog_item(&a, CatalogKind::Prompt, "p")
        .await
        .unwrap()
        .unwrap();
    assert!(vd > v3);
    assert_eq!(
        c.delete_catalog_item(&a, CatalogKind::Prompt, "p")
            .await
            .unwrap(),
        None,
        "a second delete finds nothing and changes nothing"
    );
    let versions = c.catalog_versions(&[a.clone(), b.clone()]).await.unwrap();
    assert_eq!(versions[0], vd);
    assert!(versions[1] > 0);
    assert_eq!(
        c.catalog(&a).await.unwrap().items,
        vec![catalog_resource("notes://r")]
    );
}

/// Every kind of item comes back exactly as written (an HTTP tool with its secret, a blob
/// resource, a template with completions), in creation order.
pub async fn catalog_round_trips_every_kind(s: Stores) {
    use crate::catalog::{CatalogKind, CatalogScope};
    use crate::storage::PutMode;
    let a = CatalogScope::Entity(random_entity());
    let items: Vec<crate::catalog::CatalogItem> = [
        json!({"kind": "http_tool", "name": "weather", "description": "Weather",
               "input_schema": {"type": "object", "properties": {"city": {"type": "string"}}},
               "output_schema": {"type": "object"},
               "annotations": {"readOnlyHint": true},
               "request": {"method": "GET", "url": "https://api.example.com/w/{city}",
                           "headers": [{"name": "Authorization", "value": "Bearer k", "secret": true}],
                           "timeout_ms": 5000}}),
        json!({"kind": "resource", "uri": "notes://blob", "name": "b", "mime_type": "image/png", "blob": "aGk="}),
        json!({"kind": "resource_template", "uri_template": "notes://{id}", "name": "t", "text": "{id}",
               "completions": {"id": ["1", "2"]}}),
        json!({"kind": "prompt", "name": "p", "arguments": [{"name": "x", "required": true, "suggestions": ["y"]}],
               "messages": [{"role": "assistant", "text": "{x}"}]}),
        json!({"kind": "mcp_server", "name": "docs", "url": "https://mcp.example.com/mcp",
               "transport": "streamable_http", "era": "2026-07-28", "sessions": "shared",
               "headers": [{"name": "Authorization", "value": "Bearer k", "secret": true}],
               "timeout_ms": 5000}),
    ]
    .into_iter()
    .map(|v| serde_json::from_value(v).unwrap())
    .collect();
    for i in &items {
        i.validate(&Default::default()).unwrap();
        s.catalog
            .put_catalog_item(&a, i, PutMode::Create, 10)
            .await
            .unwrap();
    }
    assert_eq!(s.catalog.catalog(&a).await.unwrap().items, items);
    // A tool and a prompt may share a name: kinds are separate.
    let same_name: crate::catalog::CatalogItem = serde_json::from_value(json!({
        "kind": "prompt", "name": "weather", "messages": [{"role": "user", "text": "x"}]}))
    .unwrap();
    s.catalog
        .put_catalog_item(&a, &same_name, PutMode::Create, 10)
        .await
        .unwrap();
    assert!(s
        .catalog
        .delete_catalog_item(&a, CatalogKind::Tool, "weather")
        .await
        .unwrap()
        .is_some());
    let left = s.catalog.catalog(&a).await.unwrap().items;
    assert_eq!(left.len(), 5);
    assert!(left.contains(&same_name));
    assert!(s
        .catalog
        .delete_catalog_item(&a, CatalogKind::McpServer, "docs")
        .await
        .unwrap()
        .is_some());
    assert_eq!(s.catalog.catalog(&a).await.unwrap().items.len(), 4);
}

/// The per-scope cap: creating beyond `max_items` is refused (and stores nothing), replacing
/// an existing item is not; concurrent creators cannot overshoot it.
pub async fn catalog_caps_hold_under_concurrency(s: Stores) {
    use crate::catalog::CatalogScope;
    use crate::storage::PutMode;
    let a = CatalogScope::Entity(random_entity());
    let tasks: Vec<_> = (0..12)
        .map(|i| {
            let c = Arc::clone(&s.catalog);
            let a = a.clone();
            tokio::spawn(async move {
                c.put_catalog_item(
                    &a,
                    &catalog_prompt(&format!("p{i}"), "x"),
                    PutMode::Create,
                    5,
                )
                .await
            })
        })
        .collect();
    let mut ok = 0;
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(StoreError::InvalidValue(m)) => assert!(m.contains("most"), "{m}"),
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
    assert_eq!(ok, 5, "exactly the cap is created");
    let snap = s.catalog.catalog(&a).await.unwrap();
    assert_eq!(snap.items.len(), 5);
    let first = snap.items[0].key().to_string();
    s.catalog
        .put_catalog_item(&a, &catalog_prompt(&first, "replaced"), PutMode::Upsert, 5)
        .await
        .expect("a replacement at the cap is allowed");
}

/// Stamps one `#[tokio::test]` per behaviour for the `Stores` produced by `$make` (an async
/// expression evaluated afresh in each test). With `optional`, `$make` yields
/// `Option<Stores>` and `None` skips the test (a backend that is not configured locally; make
/// the factory panic instead where the backend is required, e.g. under CI).
#[macro_export]
macro_rules! store_test_suite {
    (optional $make:expr) => {
        $crate::store_test_suite!(@all optional $make);
    };
    ($make:expr) => {
        $crate::store_test_suite!(@all required $make);
    };
    (@all $kind:ident $make:expr) => {
        $crate::store_test_suite!(@run $kind $make;
            session_round_trip, concurrent_loads_get_their_own_record, create_conflict, save_is_compare_and_swap,
            concurrent_saves_one_winner, save_missing_is_not_found, ttl_expiry_and_touch,
            delete_is_idempotent_and_scoped, list_paginates_per_entity,
            publish_and_replay_in_order, streams_are_isolated, subscribe_replays_then_follows,
            concurrent_publishers, delete_session_ends_streams, replies_are_routed_once,
            logs_are_scoped_and_newest_first, keys_are_created_once,
            api_keys_are_scoped_and_revocable, limits_count_atomically_and_slots_expire,
            entity_configs_are_replaced_and_scoped, catalog_items_are_versioned_and_scoped,
            catalog_caps_hold_under_concurrency, catalog_round_trips_every_kind);
    };
    (@run required $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let stores: $crate::testing::Stores = $make.await;
                $crate::testing::$name(stores).await;
            }
        )*
    };
    (@run optional $make:expr; $($name:ident),* $(,)?) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let stores: Option<$crate::testing::Stores> = $make.await;
                if let Some(stores) = stores {
                    $crate::testing::$name(stores).await;
                }
            }
        )*
    };
}
