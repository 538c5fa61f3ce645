//! The admin API in the runtime: authenticates a request and runs its
//! route (`crate::admin` parses it; docs/downloads.md, docs/monitoring.md).

// The runtime's shared glue (bindings, D1 helpers, pages) and its imports.
use super::*;
use crate::mail::valid_address;
use crate::runtime::d1::Query;
use clipstore_core::json::{Json, ToJson};

/// Largest JSON body of an admin request (uploads stream, see `objects.rs`).
const MAX_JSON_BODY: usize = 64 * 1024;

/// The admin API (`admin.rs`): authenticate, then run the route.
pub(super) async fn admin_request(mut req: Request, env: &Env) -> Result<Response> {
    let configured = env.secret("ADMIN_TOKEN").ok().map(|s| s.to_string());
    let authorization = req.headers().get("authorization").ok().flatten();
    match admin::authorize(configured.as_deref(), authorization.as_deref()) {
        Ok(()) => {}
        Err(AuthError::NotConfigured) if configured.as_deref().is_some_and(|t| !t.trim().is_empty()) => {
            return json_error(
                503,
                &format!("the admin API is disabled: ADMIN_TOKEN is shorter than {} characters (`openssl rand -hex 24` makes one)", clipstore_core::MIN_ADMIN_TOKEN_LEN),
            )
        }
        Err(AuthError::NotConfigured) => {
            return json_error(503, "the admin API is disabled: set the ADMIN_TOKEN secret")
        }
        Err(AuthError::Unauthorized) => {
            let mut r = json_error(401, "unauthorized")?;
            r.headers_mut().set("www-authenticate", "Bearer")?;
            return Ok(r);
        }
    }
    let url = req.inner().url();
    let (path, query) = crate::request_url::path_and_query(&url);
    let method = req.method().to_string();
    let route = admin::route(&method, path, query);
    // Checks that must work when the ledger does not.
    match route {
        AdminRoute::Health => return monitor::deep_health(env, &origin(&req)?).await,
        AdminRoute::Keys => return monitor::keys_report(env),
        AdminRoute::Catalog { offset, limit } => return monitor::catalog_report(env, offset, limit).await,
        AdminRoute::ObjectInfo { key } => return objects::object_info(env, &key).await,
        AdminRoute::PutObject { key } => return objects::put_object(req, env, &key).await,
        _ => {}
    }
    // JSON bodies are small (an order); refused by their declared length
    // before they are read.
    let body = if method == "POST" {
        if let Err(status) = body_fits(&req, MAX_JSON_BODY) {
            return json_error(status, "the request body is too large, or its Content-Length is missing");
        }
        req.text().await.unwrap_or_default()
    } else {
        String::new()
    };
    let origin = origin(&req)?;
    match admin_route(env, route, &body, &origin).await {
        Ok(response) => Ok(response),
        // A link that cannot be signed is no outage to wait out: said as it is.
        Err(DownloadError::Unavailable { detail }) if detail.starts_with(super::payments::SIGNING) => {
            json_error(409, &detail)
        }
        Err(e) => {
            console_error!("{}", log_line!({ "event": "admin_failed", "error": format!("{e:?}") }));
            // A shop whose migrations were never applied is not waiting
            // for an outage to pass (the deployer review).
            let missing = match env.d1("DB") {
                Ok(db) => super::checkout::migrations_missing(&db).await,
                Err(_) => None,
            };
            match missing {
                Some(problem) => json_error(503, &problem),
                None => json_error(503, "the ledger is unavailable right now"),
            }
        }
    }
}

struct SessionOrder {
    order_id: String,
    source: Option<String>,
}
crate::from_row!(SessionOrder { order_id, source });

async fn admin_route(
    env: &Env,
    route: AdminRoute,
    body: &str,
    origin: &str,
) -> std::result::Result<Response, DownloadError> {
    let db = env.d1("DB").map_err(|e| d1_error("binding DB", e))?;
    let now = now_unix();
    let respond = |status: u16, value: Json| json_response(status, &value).map_err(unavailable);
    // A flat answer, written without a JSON tree (smaller code).
    let answer =
        |status: u16, line: crate::log_line::LogLine| super::json_line_response(status, line).map_err(unavailable);
    let refuse = |status: u16, message: &str| json_error(status, message).map_err(unavailable);
    match route {
        AdminRoute::Health
        | AdminRoute::Keys
        | AdminRoute::Catalog { .. }
        | AdminRoute::ObjectInfo { .. }
        | AdminRoute::PutObject { .. } => {
            unreachable!("answered in admin_request")
        }
        AdminRoute::NotFound => refuse(404, "no such admin route"),
        AdminRoute::MethodNotAllowed => refuse(405, "method not allowed"),
        AdminRoute::ListOrders { limit } => {
            let r = batch(&db, vec![bind(&db, sql::LIST_ORDERS, &[num(limit.into())])?]).await?;
            respond(200, Json::object([("orders", rows::<OrderSummaryRow>(&r[0])?.to_json())]))
        }
        AdminRoute::OrdersOfEmail { email, limit } => {
            let r = batch(&db, vec![bind(&db, sql::LIST_ORDERS_OF_EMAIL, &[text(&email), num(limit.into())])?]).await?;
            respond(200, Json::object([("orders", rows::<OrderSummaryRow>(&r[0])?.to_json())]))
        }
        AdminRoute::NeverFullyDownloaded { since, until, limit } => {
            let r =
                batch(&db, vec![bind(&db, sql::NEVER_FULLY_DOWNLOADED, &[num(since), num(until), num(limit.into())])?])
                    .await?;
            respond(200, Json::object([("orders", rows::<OrderSummaryRow>(&r[0])?.to_json())]))
        }
        AdminRoute::ShowOrder { order_id } => {
            let id = text(&order_id);
            let r = batch(
                &db,
                vec![
                    bind(&db, sql::ORDER, std::slice::from_ref(&id))?,
                    bind(&db, sql::ORDER_CLIPS, std::slice::from_ref(&id))?,
                    bind(&db, sql::ATTEMPTS, &[id.clone(), num(0), num(admin::MAX_LIMIT.into())])?,
                    bind(&db, sql::ORDER_LINKS, std::slice::from_ref(&id))?,
                    bind(&db, sql::ORDER_EVENTS, std::slice::from_ref(&id))?,
                    bind(&db, sql::ORDER_CUSTOMER, &[id])?,
                ],
            )
            .await?;
            let Some(order) = rows::<OrderRow>(&r[0])?.into_iter().next() else {
                return refuse(404, &format!("no order {order_id} in the ledger"));
            };
            // One row per clip (the table's key), a few: found by a scan.
            let charged: Vec<OrderClipRow> = rows::<OrderClipRow>(&r[1])?;
            let charged_row = |slug: &str| charged.iter().find(|c| c.clip_slug == slug);
            let slugs: Vec<String> = clipstore_core::json::from_str(&order.clips).unwrap_or_default();
            let choices = super::choices_from_json(order.choices.as_deref());
            let clips: Vec<ClipUsage> = slugs
                .iter()
                .map(|slug| {
                    // Before a download, the file bought (a variant's), as
                    // the order page and the mail give it.
                    let variant = choices.get(slug).and_then(|c| c.variant.as_deref());
                    let size = charged_row(slug)
                        .map(|c| c.clip_size)
                        .or_else(|| manifest().clip(slug).and_then(|c| c.file(variant)).map(|f| f.size))
                        .unwrap_or(0);
                    ClipUsage::new(slug.clone(), order.allowance, size, charged_row(slug))
                })
                .collect();
            respond(
                200,
                Json::object([
                    ("order", order.to_json()),
                    ("clips", clips.to_json()),
                    ("attempts", rows::<AttemptRecord>(&r[2])?.to_json()),
                    ("links", rows::<LinkRow>(&r[3])?.to_json()),
                    ("events", rows::<EventRow>(&r[4])?.to_json()),
                    ("customer", rows::<OrderCustomerRow>(&r[5])?.into_iter().next().to_json()),
                ]),
            )
        }
        AdminRoute::CreateOrder => {
            let Some(o) = admin::NewOrder::from_json(body) else {
                return refuse(
                    400,
                    "expected {order_id, clips, downloads, expires_at?, customer_ref?, customer_email?, session_id?, payment_id?}",
                );
            };
            if !clipstore_core::token::is_valid_order_id(&o.order_id) {
                return refuse(400, clipstore_core::token::ORDER_ID_RULE);
            }
            if o.customer_email.as_deref().is_some_and(|a| !valid_address(a)) {
                return refuse(400, "customer_email is not an e-mail address");
            }
            // A Stripe checkout's: its session id is what its success page
            // and Stripe's retries name; a payment alone names neither.
            let stripe = o.session_id.is_some();
            let ids = [(&o.session_id, "cs_"), (&o.payment_id, "pi_")];
            if ids.iter().any(|(id, p)| {
                id.as_deref().is_some_and(|id| !id.starts_with(p) || !crate::payments::valid_session_id(id))
            }) || (o.payment_id.is_some() && !stripe)
            {
                return refuse(
                    400,
                    "session_id and payment_id are a Stripe checkout's (cs_...) and its payment's (pi_...)",
                );
            }
            let session = o.session_id.as_deref().unwrap_or(&o.order_id);
            // The order this checkout's success page gave a link to.
            let own = stripe.then(|| crate::payments::order_id("stripe", session));
            let known = bind(&db, sql::SESSION_ORDER, &[text(session), text(&o.order_id), opt_text(own.as_deref())])?
                .first_row::<SessionOrder>()
                .await
                .map_err(|e| d1_error("session order", e))?;
            let made_by_link =
                |k: &SessionOrder| own.as_deref() == Some(&k.order_id) && k.source.as_deref() == Some("token");
            // The order the link made becomes the checkout's, as Stripe's
            // event would have made it (`CHECKOUT_ORDER`), so that a refund
            // or dispute of the payment finds it: the owner's command after
            // an outage outlasted Stripe's retries. It keeps the clips,
            // downloads and expiry its link carries.
            let mut claimed = None;
            match known {
                Some(k) if k.order_id == o.order_id && made_by_link(&k) => {
                    claimed = bind(&db, sql::ORDER_TO_RESEND, &[text(&o.order_id)])?
                        .first_row::<recovery::OrderToResend>()
                        .await
                        .map_err(|e| d1_error("order to claim", e))?;
                }
                Some(k) if k.order_id == o.order_id => {
                    return refuse(409, &format!("order {} already exists", k.order_id))
                }
                Some(k) if made_by_link(&k) => {
                    return refuse(
                        409,
                        &format!(
                            "checkout {session} already has order {0}, made from the link its success page showed: \
                             create {0} with this --session to attach the payment to it",
                            k.order_id
                        ),
                    )
                }
                Some(k) => return refuse(409, &format!("checkout {session} already has order {}", k.order_id)),
                None => {}
            }
            // The clips of an order made here are the catalog's; a claimed
            // one keeps its link's, even a clip removed since the outage.
            let (slugs, choices) = match claimed {
                Some(_) => Default::default(),
                None => match admin::order_items(manifest(), &o.clips) {
                    Ok(items) => items,
                    Err(e) => return refuse(400, &e),
                },
            };
            // An order with a link for its checkout expires with the link.
            let linked = o.customer_email.is_some() || stripe;
            let expires_at = if linked { Some(o.expires_at.unwrap_or(now + 30 * 86_400)) } else { o.expires_at };
            let mut statements = match &claimed {
                Some(_) => {
                    let detail = format!("stripe checkout {session}, attached by the owner to the order its link made");
                    vec![
                        bind(&db, sql::CLAIM_LINK_ORDER, &[text(&o.order_id), text(session)])?,
                        bind(&db, sql::EVENT_IF_CLAIMED, &[text(&o.order_id), num(now), text(&detail)])?,
                    ]
                }
                None => vec![
                    bind(
                        &db,
                        sql::CREATE_ORDER,
                        &[
                            text(&o.order_id),
                            text(&clips_json(&slugs)),
                            num(o.downloads.into()),
                            opt_text(o.customer_ref.as_deref()),
                            opt_num(expires_at),
                            num(now),
                            choices_json(&choices),
                        ],
                    )?,
                    bind(
                        &db,
                        sql::EVENT,
                        &[text(&o.order_id), num(now), text("create"), JsValue::NULL, JsValue::NULL],
                    )?,
                ],
            };
            // A link for the checkout's success page, as the webhook's.
            let mut claims = match &claimed {
                Some(c) => recovery::fresh_claims(
                    &o.order_id,
                    &c.clips,
                    c.choices.as_deref(),
                    c.allowance,
                    &c.customer_ref,
                    c.expires_at,
                    c.not_before,
                ),
                None => Claims {
                    key_id: String::new(),
                    order_id: o.order_id.clone(),
                    clips: slugs,
                    issued_at: now,
                    expires_at: expires_at.unwrap_or_default(),
                    downloads: o.downloads,
                    customer_ref: o.customer_ref.clone(),
                    choices,
                },
            };
            if linked {
                let token = payments::sign_link(env, &mut claims)?;
                let provider = if stripe { "stripe" } else { "admin" };
                let values = [
                    text(provider),
                    text(session),
                    text(&o.order_id),
                    text(&token),
                    opt_text(o.customer_email.as_deref()),
                    JsValue::NULL,
                    JsValue::NULL,
                    num(now),
                    opt_text(o.payment_id.as_deref()),
                ];
                statements.push(bind(&db, sql::CHECKOUT, &values)?);
            }
            // Refunded or disputed before the owner made it good: created
            // revoked, as the webhook creates such an order.
            if let Some(payment) = o.payment_id.as_deref() {
                let values = [text(&o.order_id), num(now), text("stripe"), text(payment)];
                statements.push(bind(&db, sql::REVOKE_IF_PENDING, &values)?);
                let why = text("refunded or disputed before it was created");
                statements.push(bind(
                    &db,
                    sql::EVENT_IF_REVOKED_NOW,
                    &[text(&o.order_id), num(now), why, JsValue::NULL],
                )?);
            }
            let r = batch(&db, statements).await?;
            if row_count(&r[0]) == 0 {
                return refuse(409, &format!("order {} already exists", o.order_id));
            }
            let revoked = o.payment_id.is_some() && r.iter().rev().nth(1).is_some_and(|r| row_count(r) > 0);
            if revoked {
                super::revocations::publish(env).await;
            }
            match &claimed {
                // What the order kept, for the owner to see.
                Some(c) => answer(
                    200,
                    log_line!({ "created": o.order_id, "revoked": revoked, "claimed": true,
                        "revoked_before": c.revoked_at.is_some(), "clips": claims.clips, "downloads": claims.downloads }),
                ),
                None => answer(201, log_line!({ "created": o.order_id, "revoked": revoked })),
            }
        }
        AdminRoute::Reset { order_id, clip } => {
            let r = batch(
                &db,
                vec![
                    bind(
                        &db,
                        sql::EVENT,
                        &[text(&order_id), num(now), text("reset"), opt_text(clip.as_deref()), JsValue::NULL],
                    )?,
                    bind(&db, sql::RESET, &[text(&order_id), opt_text(clip.as_deref()), num(now)])?,
                ],
            )
            .await?;
            answer(200, log_line!({ "order_id": order_id, "clips_reset": row_count(&r[1]) }))
        }
        AdminRoute::ResetWindow { since, until } => {
            let detail = format!("window {since}..{until}");
            let (from, to) = (since * 1000, until * 1000);
            let r = batch(
                &db,
                vec![
                    bind(&db, sql::RESET_WINDOW_EVENTS, &[num(from), num(to), num(now), text(&detail)])?,
                    bind(&db, sql::RESET_WINDOW, &[num(from), num(to), num(now)])?,
                ],
            )
            .await?;
            struct Id {
                order_id: String,
            }
            crate::from_row!(Id { order_id });
            let mut orders: Vec<String> = rows::<Id>(&r[1])?.into_iter().map(|r| r.order_id).collect();
            orders.dedup();
            answer(200, log_line!({ "orders_reset": orders }))
        }
        AdminRoute::Revoke { order_id, clip: Some(clip) } => {
            if manifest().clip(&clip).is_none() {
                return refuse(400, &format!("no clip {clip} in the catalog"));
            }
            let r = batch(
                &db,
                vec![
                    bind(&db, sql::REVOKE_CLIP, &[text(&order_id), text(&clip), num(now), text("admin")])?,
                    bind(&db, sql::EVENT, &[text(&order_id), num(now), text("revoke"), text(&clip), JsValue::NULL])?,
                ],
            )
            .await?;
            let new = row_count(&r[0]) != 0;
            revocations::publish(env).await;
            answer(200, log_line!({ "order_id": order_id, "clip": clip, "revoked_at": now, "already_revoked": !new }))
        }
        AdminRoute::Unrevoke { order_id, clip } => {
            let undo = match &clip {
                Some(c) => bind(&db, sql::UNREVOKE_CLIP, &[text(&order_id), text(c)])?,
                None => bind(&db, sql::UNREVOKE, &[text(&order_id)])?,
            };
            let restored = row_count(&batch(&db, vec![undo]).await?[0]) != 0;
            if restored {
                let clip = clip.as_deref().map_or(JsValue::NULL, text);
                batch(
                    &db,
                    vec![bind(&db, sql::EVENT, &[text(&order_id), num(now), text("unrevoke"), clip, JsValue::NULL])?],
                )
                .await?;
                revocations::publish(env).await;
            }
            answer(200, log_line!({ "order_id": order_id, "restored": restored }))
        }
        AdminRoute::Resend { order_id, to, replace } => {
            let (status, value) = recovery::resend(env, &db, &order_id, to.as_deref(), replace, origin).await?;
            respond(status, value)
        }
        AdminRoute::Revoke { order_id, clip: None } => {
            batch(
                &db,
                vec![
                    bind(&db, sql::REVOKE, &[text(&order_id), num(now)])?,
                    bind(&db, sql::EVENT, &[text(&order_id), num(now), text("revoke"), JsValue::NULL, JsValue::NULL])?,
                ],
            )
            .await?;
            revocations::publish(env).await;
            answer(200, log_line!({ "order_id": order_id, "revoked_at": now }))
        }
        AdminRoute::Reissue { order_id, valid_for, exchange } => {
            let mut statements = Vec::new();
            if let Some(item) = &exchange {
                let r = batch(&db, vec![bind(&db, sql::ORDER, &[text(&order_id)])?]).await?;
                let Some(order) = rows::<OrderRow>(&r[0])?.into_iter().next() else {
                    return refuse(404, &format!("no order {order_id} in the ledger"));
                };
                let revoked = order.revoked_clips.as_deref();
                let e = match admin::exchange(manifest(), &order.clips, order.choices.as_deref(), revoked, item) {
                    Ok(e) => e,
                    Err(why) => return refuse(400, &format!("order {order_id} cannot exchange {item}: {why}")),
                };
                // The other file's downloads start afresh, as after `orders
                // reset --clip` (its event too: a restart is given once per
                // reset), at the new file's size.
                let reset = [text(&order_id), num(now), text("reset"), text(&e.slug), text("exchanged")];
                statements.extend([
                    bind(&db, sql::EXCHANGE, &[text(&order_id), opt_text(e.choices.as_deref())])?,
                    bind(&db, sql::EVENT, &reset)?,
                    bind(&db, sql::RESET, &[text(&order_id), text(&e.slug), num(now)])?,
                    bind(&db, sql::EXCHANGE_SIZE, &[text(&order_id), text(&e.slug), num(e.size)])?,
                    bind(
                        &db,
                        sql::EVENT,
                        &[text(&order_id), num(now), text("exchange"), text(&e.slug), text(&e.detail)],
                    )?,
                ]);
            }
            let at = statements.len();
            statements.push(bind(&db, sql::REISSUE, &[text(&order_id), num(now), opt_num(valid_for)])?);
            statements.push(bind(
                &db,
                sql::EVENT,
                &[text(&order_id), num(now), text("reissue"), JsValue::NULL, JsValue::NULL],
            )?);
            let r = batch(&db, statements).await?;
            revocations::publish(env).await;
            match rows::<admin::ReissuedOrder>(&r[at])?.into_iter().next() {
                // The new link, signed here with the key the Worker checks:
                // one signed elsewhere (a rotated or mistyped local key)
                // could fail after the old links were stopped.
                Some(order) => {
                    let o = &order;
                    let mut claims = recovery::fresh_claims(
                        &o.order_id,
                        &o.clips,
                        o.choices.as_deref(),
                        o.allowance,
                        &o.customer_ref,
                        o.expires_at,
                        o.not_before,
                    );
                    let token = super::payments::sign_link(env, &mut claims)?;
                    let link = format!("{origin}/download/{token}");
                    respond(200, Json::object([("order", order.to_json()), ("link", link.to_json())]))
                }
                None => refuse(404, &format!("no order {order_id} in the ledger")),
            }
        }
        AdminRoute::Attempts { order_id, after, limit } => {
            let r = batch(
                &db,
                vec![bind(&db, sql::ATTEMPTS, &[opt_text(order_id.as_deref()), num(after), num(limit.into())])?],
            )
            .await?;
            respond(200, Json::object([("attempts", rows::<AttemptRecord>(&r[0])?.to_json())]))
        }
        AdminRoute::Merge => {
            let done = merge_fallback(env).await?;
            // Not while records are left: one may settle a stale-looking one.
            let settled_stale = if done.more { 0 } else { reservation::settle_stale(env).await? };
            respond(
                200,
                Json::object([
                    ("merged", done.merged.to_json()),
                    ("more", done.more.to_json()),
                    ("settled_stale", settled_stale.to_json()),
                ]),
            )
        }
        AdminRoute::Outbox { limit } => {
            respond(200, Json::object([("outbox", mail::outbox_list(&db, limit).await?.to_json())]))
        }
        AdminRoute::Payments { limit } => {
            let r = batch(&db, vec![bind(&db, sql::PAYMENT_EVENTS, &[num(limit.into())])?]).await?;
            respond(200, Json::object([("payments", rows::<PaymentEventRow>(&r[0])?.to_json())]))
        }
    }
}
