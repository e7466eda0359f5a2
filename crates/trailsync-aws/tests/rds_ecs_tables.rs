//! The RDS and ECS readers against moto: full listing with children, fetch by id (batched, unknown
//! ids absent), and changes made in moto showing up on the next fetch.

use aws_sdk_ecs::types::{LaunchType, Tag as EcsTag};
use aws_sdk_rds::types::Tag as RdsTag;
use serde_json::{Value as Json, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use trailsync_aws::{Account, Accounts, AwsInventory};
use trailsync_catalog::tables::{ecs, rds};
use trailsync_catalog::{Resource, Value};
use trailsync_core::{Inventory, Location};
use trailsync_testkit::{DEFAULT_ACCOUNT, Moto, ec2};

const REGION: &str = "us-east-1";

#[tokio::test]
async fn rds_instances_and_clusters_list_and_fetch() {
    let moto = Moto::start().await.expect("moto starts");
    let rds = aws_sdk_rds::Client::new(&moto.sdk_config(REGION));
    // RDS stores identifiers lowercase, whatever case they were created with.
    create_instance(&rds, "Orders-DB", "postgres", None, &[("team", "orders")]).await;
    create_instance(&rds, "billing-db", "mysql", None, &[]).await;
    create_cluster(
        &rds,
        "aurora-pg",
        "aurora-postgresql",
        None,
        &[("tier", "gold")],
    )
    .await;
    // Backtracking on: the reader asks for backtracks, which moto does not implement.
    create_cluster(&rds, "aurora-mysql", "aurora-mysql", Some(3600), &[]).await;
    create_instance(
        &rds,
        "aurora-pg-1",
        "aurora-postgresql",
        Some("aurora-pg"),
        &[],
    )
    .await;

    let inventory = inventory(&moto);
    let here = Location::new(DEFAULT_ACCOUNT, REGION);

    let instances = inventory
        .list(&here, &rds::INSTANCES, &[])
        .await
        .map(read_all)
        .expect("list DB instances");
    assert_eq!(
        ids(&instances, "db_instance_identifier"),
        ["aurora-pg-1", "billing-db", "orders-db"]
    );
    let orders = by_id(&instances, "db_instance_identifier", "orders-db");
    assert_eq!(
        text(orders, "arn"),
        format!("arn:aws:rds:{REGION}:{DEFAULT_ACCOUNT}:db:orders-db")
    );
    assert_eq!(text(orders, "db_instance_arn"), text(orders, "arn"));
    assert_eq!(text(orders, "account_id"), DEFAULT_ACCOUNT);
    assert_eq!(text(orders, "region"), REGION);
    assert_eq!(text(orders, "engine"), "postgres");
    assert_eq!(text(orders, "db_instance_class"), "db.t3.micro");
    assert_eq!(json_of(orders, "tags"), json!({"team": "orders"}));
    assert_eq!(json_of(orders, "processor_features"), json!({}));
    assert!(
        matches!(orders.row.get("db_instance_port"), Some(Value::BigInt(_))),
        "DbInstancePort fills db_instance_port: {:?}",
        orders.row.get("db_instance_port")
    );
    assert!(matches!(
        orders.row.get("instance_create_time"),
        Some(Value::Timestamp(_))
    ));
    let member = by_id(&instances, "db_instance_identifier", "aurora-pg-1");
    assert_eq!(text(member, "db_cluster_identifier"), "aurora-pg");

    let clusters = inventory
        .list(&here, &rds::CLUSTERS, &[&rds::CLUSTER_BACKTRACKS])
        .await
        .map(read_all)
        .expect("list DB clusters");
    assert_eq!(
        ids(&clusters, "db_cluster_identifier"),
        ["aurora-mysql", "aurora-pg"]
    );
    for cluster in &clusters {
        assert_eq!(cluster.children.len(), 1, "one entry per selected child");
        assert_eq!(cluster.children[0].table, &rds::CLUSTER_BACKTRACKS);
        assert!(
            cluster.children[0].rows.is_empty(),
            "moto has no backtracks"
        );
    }
    let pg = by_id(&clusters, "db_cluster_identifier", "aurora-pg");
    assert_eq!(
        text(pg, "arn"),
        format!("arn:aws:rds:{REGION}:{DEFAULT_ACCOUNT}:cluster:aurora-pg")
    );
    assert_eq!(json_of(pg, "tags"), json!({"tier": "gold"}));
    assert_eq!(text(pg, "engine"), "aurora-postgresql");
    let mysql = by_id(&clusters, "db_cluster_identifier", "aurora-mysql");
    assert_eq!(
        mysql.row.get("backtrack_window"),
        Some(&Value::BigInt(3600))
    );
    // Without the child selected, no child entry at all.
    let bare = inventory
        .list(&here, &rds::CLUSTERS, &[])
        .await
        .map(read_all)
        .expect("list DB clusters without children");
    assert!(bare.iter().all(|c| c.children.is_empty()));

    // Changes in moto show on the next fetch; several ids cost one call; unknown ids are absent.
    rds.modify_db_instance()
        .db_instance_identifier("billing-db")
        .db_instance_class("db.m5.large")
        .apply_immediately(true)
        .send()
        .await
        .expect("modify DB instance");
    moto.start_recording().await.expect("recording");
    let fetched = inventory
        .fetch(
            &here,
            &rds::INSTANCES,
            &[],
            &["billing-db".into(), "orders-db".into(), "gone-db".into()],
        )
        .await
        .map(read_all)
        .expect("fetch DB instances");
    let calls = moto.recorded_calls().await.expect("recorded calls");
    assert_eq!(
        operations(&calls, "DescribeDBInstances"),
        1,
        "three ids, one call: {calls:?}"
    );
    assert_eq!(
        ids(&fetched, "db_instance_identifier"),
        ["billing-db", "orders-db"]
    );
    let billing = by_id(&fetched, "db_instance_identifier", "billing-db");
    assert_eq!(text(billing, "db_instance_class"), "db.m5.large");

    rds.add_tags_to_resource()
        .resource_name(text(pg, "arn"))
        .tags(RdsTag::builder().key("tier").value("platinum").build())
        .tags(RdsTag::builder().key("owner").value("data").build())
        .send()
        .await
        .expect("tag DB cluster");
    let fetched = inventory
        .fetch(
            &here,
            &rds::CLUSTERS,
            &[&rds::CLUSTER_BACKTRACKS],
            &["aurora-pg".into(), "no-such-cluster".into()],
        )
        .await
        .map(read_all)
        .expect("fetch DB clusters");
    assert_eq!(ids(&fetched, "db_cluster_identifier"), ["aurora-pg"]);
    assert_eq!(
        json_of(&fetched[0], "tags"),
        json!({"tier": "platinum", "owner": "data"})
    );
    assert_eq!(fetched[0].row.cq_id, pg.row.cq_id, "same row, same _cq_id");
    assert_eq!(fetched[0].children.len(), 1);

    for (table, id) in [
        (&rds::INSTANCES, "nothing-here"),
        (&rds::CLUSTERS, "nothing-here"),
    ] {
        let none = inventory
            .fetch(&here, table, &[], &[id.into()])
            .await
            .map(read_all)
            .expect("an unknown id is not an error");
        assert!(none.is_empty(), "{}: {none:?}", table.name);
    }
}

#[tokio::test]
async fn ecs_clusters_with_tasks_list_and_fetch() {
    let moto = Moto::start().await.expect("moto starts");
    // moto advances a task's status on every DescribeTasks; hold it still.
    freeze_ecs_tasks(&moto).await;
    let config = moto.sdk_config(REGION);
    let ecs = aws_sdk_ecs::Client::new(&config);
    let hosts = ec2::run_instances(&aws_sdk_ec2::Client::new(&config), 1, &[])
        .await
        .expect("EC2 instance for the container instances");

    let alpha = create_ecs_cluster(&ecs, "alpha", &[("env", "prod")]).await;
    create_ecs_cluster(&ecs, "bravo", &[]).await;
    create_ecs_cluster(&ecs, "charlie", &[]).await;
    register_task_definition(&ecs, "web").await;
    for cluster in ["alpha", "bravo"] {
        register_container_instance(&ecs, cluster, &hosts[0]).await;
    }
    let alpha_tasks = run_tasks(&ecs, "alpha", "web", 3, &[("app", "web")]).await;
    let bravo_tasks = run_tasks(&ecs, "bravo", "web", 2, &[]).await;
    ecs.stop_task()
        .cluster("alpha")
        .task(&alpha_tasks[0])
        .reason("test")
        .send()
        .await
        .expect("stop a task");

    let inventory = inventory(&moto);
    let here = Location::new(DEFAULT_ACCOUNT, REGION);
    let clusters = inventory
        .list(&here, &ecs::CLUSTERS, &[&ecs::CLUSTER_TASKS])
        .await
        .map(read_all)
        .expect("list ECS clusters");
    assert_eq!(
        ids(&clusters, "cluster_name"),
        ["alpha", "bravo", "charlie"]
    );
    let listed_alpha = by_id(&clusters, "cluster_name", "alpha");
    assert_eq!(text(listed_alpha, "arn"), alpha);
    assert_eq!(text(listed_alpha, "cluster_arn"), alpha);
    assert_eq!(text(listed_alpha, "status"), "ACTIVE");
    assert_eq!(json_of(listed_alpha, "tags"), json!({"env": "prod"}));
    assert_eq!(
        listed_alpha.row.get("registered_container_instances_count"),
        Some(&Value::BigInt(1))
    );

    // Running and stopped tasks alike, each under its cluster.
    let tasks_of = |resource: &Resource| -> Vec<String> {
        assert_eq!(resource.children.len(), 1);
        assert_eq!(resource.children[0].table, &ecs::CLUSTER_TASKS);
        let mut arns: Vec<String> = resource.children[0]
            .rows
            .iter()
            .map(|r| {
                assert_eq!(r.parent_id, Some(resource.row.cq_id));
                r.get("arn")
                    .and_then(Value::as_str)
                    .unwrap_or_default()
                    .to_string()
            })
            .collect();
        arns.sort();
        arns
    };
    assert_eq!(tasks_of(listed_alpha), sorted(&alpha_tasks));
    assert_eq!(
        tasks_of(by_id(&clusters, "cluster_name", "bravo")),
        sorted(&bravo_tasks)
    );
    assert!(tasks_of(by_id(&clusters, "cluster_name", "charlie")).is_empty());
    let task_rows = &listed_alpha.children[0].rows;
    let stopped = task_rows
        .iter()
        .find(|r| r.get("arn").and_then(Value::as_str) == Some(alpha_tasks[0].as_str()))
        .expect("the stopped task is listed");
    assert_eq!(
        stopped.get("desired_status").and_then(Value::as_str),
        Some("STOPPED")
    );
    let running = task_rows
        .iter()
        .find(|r| r.get("arn").and_then(Value::as_str) == Some(alpha_tasks[1].as_str()))
        .expect("a running task is listed");
    assert_eq!(running.get("task_arn"), running.get("arn"));
    assert_eq!(
        running.get("cluster_arn").and_then(Value::as_str),
        Some(alpha.as_str())
    );
    assert_eq!(
        running.get("last_status").and_then(Value::as_str),
        Some("RUNNING")
    );
    assert_eq!(
        running.get("launch_type").and_then(Value::as_str),
        Some("EC2")
    );
    assert_eq!(running.get("region").and_then(Value::as_str), Some(REGION));
    assert_eq!(
        running.get("tags"),
        Some(&Value::Json(json!({"app": "web"})))
    );
    assert_eq!(
        running.get("task_protection"),
        Some(&Value::Null),
        "not a service task"
    );

    // Tag a cluster, delete another: fetch by name shows both; unknown names are absent.
    ecs.tag_resource()
        .resource_arn(&alpha)
        .tags(EcsTag::builder().key("env").value("staging").build())
        .send()
        .await
        .expect("tag cluster");
    ecs.delete_cluster()
        .cluster("charlie")
        .send()
        .await
        .expect("delete cluster");
    moto.start_recording().await.expect("recording");
    let fetched = inventory
        .fetch(
            &here,
            &ecs::CLUSTERS,
            &[&ecs::CLUSTER_TASKS],
            &["alpha".into(), "charlie".into(), "ghost".into()],
        )
        .await
        .map(read_all)
        .expect("fetch ECS clusters");
    let calls = moto.recorded_calls().await.expect("recorded calls");
    assert_eq!(
        operations(&calls, "DescribeClusters"),
        1,
        "three names, one call: {calls:?}"
    );
    assert_eq!(ids(&fetched, "cluster_name"), ["alpha", "charlie"]);
    let fetched_alpha = by_id(&fetched, "cluster_name", "alpha");
    assert_eq!(json_of(fetched_alpha, "tags"), json!({"env": "staging"}));
    assert_eq!(tasks_of(fetched_alpha), sorted(&alpha_tasks));
    // A deleted cluster ECS still describes stays, as INACTIVE, without task calls.
    let charlie = by_id(&fetched, "cluster_name", "charlie");
    assert_eq!(text(charlie, "status"), "INACTIVE");
    assert!(tasks_of(charlie).is_empty());
    assert_eq!(
        operations(&calls, "ListTasks"),
        2,
        "RUNNING and STOPPED for alpha only: {calls:?}"
    );

    let none = inventory
        .fetch(&here, &ecs::CLUSTERS, &[], &["ghost".into()])
        .await
        .map(read_all)
        .expect("an unknown name is not an error");
    assert!(none.is_empty(), "{none:?}");
}

// ---- harness ----

/// The inventory over moto's default account in [`REGION`].
fn inventory(moto: &Moto) -> AwsInventory {
    AwsInventory::new(Accounts::new(vec![Account {
        id: DEFAULT_ACCOUNT.to_string(),
        alias: "moto".to_string(),
        config: moto.sdk_config(REGION),
        regions: vec![REGION.to_string()],
    }]))
}

/// Sets moto's ECS task state manager to advance only after a very large number of describes.
async fn freeze_ecs_tasks(moto: &Moto) {
    let body = json!({
        "model_name": "ecs::task",
        "transition": {"progression": "manual", "times": 1_000_000}
    })
    .to_string();
    let request = format!(
        "POST /moto-api/state-manager/set-transition HTTP/1.1\r\n\
         Host: 127.0.0.1:{port}\r\n\
         Content-Type: application/json\r\n\
         Content-Length: {len}\r\n\
         Connection: close\r\n\r\n{body}",
        port = moto.port(),
        len = body.len()
    );
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", moto.port()))
        .await
        .expect("connect to moto");
    stream
        .write_all(request.as_bytes())
        .await
        .expect("send set-transition");
    let mut answer = String::new();
    stream
        .read_to_string(&mut answer)
        .await
        .expect("read set-transition answer");
    assert!(
        answer.starts_with("HTTP/1.1 201"),
        "set-transition: {answer}"
    );
}

async fn create_instance(
    rds: &aws_sdk_rds::Client,
    id: &str,
    engine: &str,
    cluster: Option<&str>,
    tags: &[(&str, &str)],
) {
    rds.create_db_instance()
        .db_instance_identifier(id)
        .engine(engine)
        .db_instance_class("db.t3.micro")
        .allocated_storage(20)
        .master_username("admin")
        .master_user_password("password123")
        .set_db_cluster_identifier(cluster.map(str::to_string))
        .set_tags(Some(rds_tags(tags)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create DB instance {id}: {e:?}"));
}

async fn create_cluster(
    rds: &aws_sdk_rds::Client,
    id: &str,
    engine: &str,
    backtrack_window: Option<i64>,
    tags: &[(&str, &str)],
) {
    rds.create_db_cluster()
        .db_cluster_identifier(id)
        .engine(engine)
        .master_username("admin")
        .master_user_password("password123")
        .set_backtrack_window(backtrack_window)
        .set_tags(Some(rds_tags(tags)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create DB cluster {id}: {e:?}"));
}

fn rds_tags(tags: &[(&str, &str)]) -> Vec<RdsTag> {
    tags.iter()
        .map(|(k, v)| RdsTag::builder().key(*k).value(*v).build())
        .collect()
}

/// Creates a cluster; returns its ARN.
async fn create_ecs_cluster(
    ecs: &aws_sdk_ecs::Client,
    name: &str,
    tags: &[(&str, &str)],
) -> String {
    let out = ecs
        .create_cluster()
        .cluster_name(name)
        .set_tags(Some(ecs_tags(tags)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("create cluster {name}: {e:?}"));
    out.cluster()
        .and_then(|c| c.cluster_arn())
        .expect("cluster ARN")
        .to_string()
}

async fn register_task_definition(ecs: &aws_sdk_ecs::Client, family: &str) {
    ecs.register_task_definition()
        .family(family)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Ec2)
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name(family)
                .image("nginx")
                .cpu(10)
                .memory(16)
                .build(),
        )
        .send()
        .await
        .unwrap_or_else(|e| panic!("register task definition {family}: {e:?}"));
}

/// moto places EC2-launch tasks only on a registered container instance.
async fn register_container_instance(ecs: &aws_sdk_ecs::Client, cluster: &str, instance_id: &str) {
    let document = json!({"instanceId": instance_id, "region": REGION}).to_string();
    ecs.register_container_instance()
        .cluster(cluster)
        .instance_identity_document(document)
        .send()
        .await
        .unwrap_or_else(|e| panic!("register container instance in {cluster}: {e:?}"));
}

/// Runs `count` tasks; returns their ARNs.
async fn run_tasks(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    family: &str,
    count: i32,
    tags: &[(&str, &str)],
) -> Vec<String> {
    let out = ecs
        .run_task()
        .cluster(cluster)
        .task_definition(family)
        .launch_type(LaunchType::Ec2)
        .count(count)
        .set_tags(Some(ecs_tags(tags)))
        .send()
        .await
        .unwrap_or_else(|e| panic!("run tasks in {cluster}: {e:?}"));
    let arns: Vec<String> = out
        .tasks()
        .iter()
        .filter_map(|t| t.task_arn().map(str::to_string))
        .collect();
    assert_eq!(arns.len(), count as usize, "moto placed every task");
    arns
}

fn ecs_tags(tags: &[(&str, &str)]) -> Vec<EcsTag> {
    tags.iter()
        .map(|(k, v)| EcsTag::builder().key(*k).value(*v).build())
        .collect()
}

/// The sorted values of a text column across resources.
fn ids(resources: &[Resource], column: &str) -> Vec<String> {
    let mut ids: Vec<String> = resources.iter().map(|r| text(r, column)).collect();
    ids.sort();
    ids
}

fn by_id<'a>(resources: &'a [Resource], column: &str, id: &str) -> &'a Resource {
    resources
        .iter()
        .find(|r| text(r, column) == id)
        .unwrap_or_else(|| panic!("no resource with {column} = {id}"))
}

fn text(resource: &Resource, column: &str) -> String {
    match resource.row.get(column) {
        Some(Value::Text(s)) => s.clone(),
        other => panic!("{column} is not text: {other:?}"),
    }
}

fn json_of(resource: &Resource, column: &str) -> Json {
    match resource.row.get(column) {
        Some(Value::Json(j)) => j.clone(),
        other => panic!("{column} is not JSON: {other:?}"),
    }
}

fn sorted(items: &[String]) -> Vec<String> {
    let mut items = items.to_vec();
    items.sort();
    items
}

fn operations(calls: &[trailsync_testkit::ApiCall], operation: &str) -> usize {
    calls.iter().filter(|c| c.operation == operation).count()
}

/// The resources of an answer that must have read every one of them.
fn read_all(fetched: trailsync_core::Fetched) -> Vec<trailsync_catalog::Resource> {
    assert!(fetched.failed.is_empty(), "unread: {:?}", fetched.failed);
    fetched.resources
}
