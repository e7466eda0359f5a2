use trailsync_testkit::{TestDatabase, TestkitError};

async fn database_exists(name: &str) -> bool {
    // A second, independent database is the simplest admin connection to check from.
    let probe = TestDatabase::create().await.expect("probe database");
    let client = probe.connect().await.expect("probe connects");
    let exists = client
        .query_one(
            "SELECT count(*) FROM pg_database WHERE datname = $1",
            &[&name],
        )
        .await
        .expect("pg_database readable")
        .get::<_, i64>(0)
        == 1;
    drop(client);
    probe.cleanup().await.expect("probe dropped");
    exists
}

#[tokio::test]
async fn creates_a_usable_database_and_drops_it() {
    let db = TestDatabase::create().await.expect("PostgreSQL reachable");
    let name = db.name().to_owned();
    assert!(name.starts_with("trailsync_test_"), "{name}");
    assert!(
        db.connection_string().ends_with(&format!("/{name}")),
        "{}",
        db.connection_string()
    );

    // The connection string is what the code under test gets: connect with it directly.
    let (client, connection) =
        tokio_postgres::connect(db.connection_string(), tokio_postgres::NoTls)
            .await
            .expect("connection string works");
    let conn_task = tokio::spawn(connection);
    client
        .batch_execute("CREATE TABLE t (id int primary key); INSERT INTO t VALUES (1)")
        .await
        .expect("DDL and DML work");
    let current: String = client
        .query_one("SELECT current_database()", &[])
        .await
        .expect("query")
        .get(0);
    assert_eq!(current, name);
    assert!(database_exists(&name).await);

    // Cleanup must succeed while the code under test still holds a connection (WITH (FORCE)).
    db.cleanup().await.expect("database dropped");
    assert!(!database_exists(&name).await, "{name} is gone");
    let _ = conn_task.await;
}

#[tokio::test]
async fn drop_without_cleanup_still_removes_the_database() {
    let db = TestDatabase::create().await.expect("PostgreSQL reachable");
    let name = db.name().to_owned();
    drop(db);
    assert!(!database_exists(&name).await, "{name} dropped by Drop");
}

#[tokio::test]
async fn unreachable_postgres_is_a_loud_error() {
    // Port 1 on localhost: nothing listens there.
    let err = TestDatabase::create_with("postgres://postgres@127.0.0.1:1/test")
        .await
        .expect_err("nothing listens on port 1");
    assert!(
        matches!(
            err,
            TestkitError::Postgres {
                action: "connect",
                ..
            }
        ),
        "{err}"
    );
    let text = err.to_string();
    assert!(
        text.contains("127.0.0.1:1") && text.contains("TRAILSYNC_TEST_POSTGRES"),
        "{text}"
    );
}

#[tokio::test]
async fn a_private_server_stops_and_starts_again_on_its_port() {
    let server = trailsync_testkit::PostgresServer::start()
        .await
        .expect("private server starts");
    let connect = || async {
        let (client, connection) =
            tokio_postgres::connect(&server.url("postgres"), tokio_postgres::NoTls)
                .await
                .map_err(|e| format!("{e}: {}", server.log()))?;
        tokio::spawn(connection);
        Ok::<_, String>(client)
    };
    let client = connect().await.expect("connects");
    client
        .batch_execute("CREATE TABLE kept (n int); INSERT INTO kept VALUES (7)")
        .await
        .expect("writes");
    server.stop().await.expect("stops");
    assert!(
        client.query_one("SELECT 1", &[]).await.is_err(),
        "the session is gone"
    );
    assert!(connect().await.is_err(), "nothing listens while stopped");
    server.start_again().await.expect("starts again");
    let client = connect().await.expect("connects again");
    let n: i32 = client
        .query_one("SELECT n FROM kept", &[])
        .await
        .expect("data survived")
        .get(0);
    assert_eq!(n, 7);
}
