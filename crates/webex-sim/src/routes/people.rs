//! `/people`: `GET /people/me`, `GET /people?email=|displayName=|id=`, `GET /people/{id}`.

use super::{paginate_offset, Query};
use crate::error::ApiError;
use crate::ids::{resolve, Kind};
use crate::middleware::Caller;
use crate::render;
use crate::state::SimState;
use axum::extract::{Path, RawQuery, State};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use std::sync::Arc;

/// `GET /people/me`.
pub async fn me(
    State(state): State<Arc<SimState>>,
    Extension(Caller(me)): Extension<Caller>,
) -> Result<Response, ApiError> {
    let world = state.world();
    let p = world.person(&me).ok_or_else(ApiError::unauthorized)?;
    Ok(Json(render::person(&world, p)).into_response())
}

/// `GET /people/{id}`.
pub async fn get_one(
    State(state): State<Arc<SimState>>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let world = state.world();
    let p = resolve(Kind::People, &id)
        .and_then(|u| world.person(&u))
        .ok_or_else(ApiError::not_found)?;
    Ok(Json(render::person(&world, p)).into_response())
}

/// `GET /people`: non-admin callers must give `email`, `displayName` or `id`.
pub async fn list(
    State(state): State<Arc<SimState>>,
    RawQuery(raw): RawQuery,
) -> Result<Response, ApiError> {
    let q = Query::parse(raw.as_deref());
    let max = q.max(100, 1000)?;
    let email = q.get("email").map(str::to_lowercase);
    let name = q.get("displayName").map(str::to_lowercase);
    let ids = q.all("id");
    if email.is_none() && name.is_none() && ids.is_empty() {
        return Err(ApiError::bad_request(
            "Email, displayName, or id list should be specified.",
        ));
    }
    if ids.len() > 85 {
        return Err(ApiError::bad_request("At most 85 ids may be specified."));
    }
    let world = state.world();
    let wanted: Vec<uuid::Uuid> = ids
        .iter()
        .filter_map(|i| resolve(Kind::People, i))
        .collect();
    let items: Vec<_> = world
        .people
        .iter()
        .filter(|p| email.as_ref().is_none_or(|e| &p.email == e))
        .filter(|p| {
            name.as_ref()
                .is_none_or(|n| p.display_name.to_lowercase().starts_with(n.as_str()))
        })
        .filter(|p| ids.is_empty() || wanted.contains(&p.uuid))
        .map(|p| render::person(&world, p))
        .collect();
    paginate_offset(&state, "/v1/people", &q, items, max)
}
