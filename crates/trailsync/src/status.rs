//! What `trailsync status` and `trailsync history` show: the fleet of each streaming source and
//! the change history, read from the source's first destination (which keeps the leases).

use trailsync_config::{Config, DestinationConfig, SourceConfig};
use trailsync_core::{
    ChangeQuery, ChangeRecord, Destination, DestinationError, FleetView, LeaseScope,
};

/// The fleet of one streaming source, as stored.
#[derive(Debug)]
pub struct FleetStatus {
    pub scope: LeaseScope,
    pub view: FleetView,
}

/// Why a source's status could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("source {source_name}: no destination")]
    NoDestination { source_name: String },
    #[error("source {source_name}: destination {destination}: {error}")]
    Destination {
        source_name: String,
        destination: String,
        #[source]
        error: DestinationError,
    },
}

/// The fleet of `source` (`None` when it does not stream), read from its first destination,
/// where leases are kept.
pub async fn fleet_status(
    source: &SourceConfig,
    config: &Config,
) -> Result<Option<FleetStatus>, StatusError> {
    let Some(events) = &source.spec.event_based_sync else {
        return Ok(None);
    };
    let (keeper, destination) = keeper(source, config).await?;
    let scope = LeaseScope {
        source_name: source.name.clone(),
        stream_arn: events.stream.arn.clone(),
    };
    let view = destination
        .view(&scope)
        .await
        .map_err(failed(source, keeper))?;
    Ok(Some(FleetStatus { scope, view }))
}

/// The change history of `source` matching `query` (its `source` set here), newest first.
pub async fn change_history(
    source: &SourceConfig,
    config: &Config,
    query: &ChangeQuery,
) -> Result<Vec<ChangeRecord>, StatusError> {
    let (keeper, destination) = keeper(source, config).await?;
    let query = ChangeQuery {
        source: Some(source.name.clone()),
        ..query.clone()
    };
    destination
        .changes(&query)
        .await
        .map_err(failed(source, keeper))
}

/// The first destination of `source`, connected.
async fn keeper<'c>(
    source: &SourceConfig,
    config: &'c Config,
) -> Result<(&'c DestinationConfig, Box<dyn Destination>), StatusError> {
    let keeper = source
        .destinations
        .first()
        .and_then(|name| config.destination(name))
        .ok_or_else(|| StatusError::NoDestination {
            source_name: source.name.clone(),
        })?;
    let destination =
        trailsync_destination::connect(keeper.kind, &keeper.connection_string, keeper.write_mode)
            .await
            .map_err(failed(source, keeper))?;
    Ok((keeper, destination))
}

fn failed(
    source: &SourceConfig,
    keeper: &DestinationConfig,
) -> impl FnOnce(DestinationError) -> StatusError {
    let (source_name, destination) = (source.name.clone(), keeper.name.clone());
    move |error| StatusError::Destination {
        source_name,
        destination,
        error,
    }
}
