//! The target of a bench stage: start the embedded simulated server or resolve the user's
//! URL, build the client configuration, and check that the server answers like an
//! OpenAI-compatible one (settling the model name). When the target is an infermeter
//! simulator (`sim serve`), its description is fetched so reports name what was simulated.

use crate::client::openai::{self, Api, BodyOptions};
use crate::client::tls::Tls;
use crate::client::{self, ClientConfig, Target};
use crate::error::Error;
use crate::spec::validate::BenchConfig;
use crate::workload::Tokenizer;
use std::net::SocketAddr;

/// A reachable target, ready for the runner.
pub struct Ready {
    pub client: ClientConfig,
    /// The URL as shown in reports.
    pub url: String,
    /// The model name requests carry.
    pub model: String,
    /// What the simulated server behind the target simulates, when it is infermeter's.
    pub simulated: Option<crate::sim::Described>,
    /// The model's context limit (prompt + output tokens), when the server lists it.
    pub context: Option<u32>,
    /// Keeps the embedded server alive for the run.
    pub _server: Option<tokio::task::JoinHandle<()>>,
}

/// Endpoint and models paths from the URL path: `/` → defaults; `/v1` → `/v1/...`;
/// anything else is taken as the full endpoint path.
pub fn paths(api: Api, url_path: &str, endpoint: Option<&str>) -> (String, String) {
    let base = url_path.trim_end_matches('/');
    let models = match base.find("/v1") {
        Some(i) => format!("{}/v1/models", &base[..i]),
        None => "/v1/models".to_string(),
    };
    let path = match endpoint {
        Some(e) => e.to_string(),
        None if base.is_empty() => api.default_path().to_string(),
        None if base.ends_with("/v1") => format!("{base}{}", &api.default_path()[3..]),
        None => base.to_string(),
    };
    (path, models)
}

async fn resolve(host: &str, port: u16) -> Result<SocketAddr, Error> {
    let mut addrs = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| Error::failed(format!("cannot resolve host '{host}': {e}")))?;
    addrs
        .next()
        .ok_or_else(|| Error::failed(format!("host '{host}' has no address")))
}

/// Start the embedded server (if any), connect the client configuration and preflight it.
pub async fn prepare(
    cfg: &BenchConfig,
    tokenizer: Tokenizer,
    request_id_prefix: String,
    silent: bool,
) -> Result<Ready, Error> {
    let mut server = None;
    let mut default_model = None;
    let (url, host, port, url_path, https) = match (&cfg.url, &cfg.sim) {
        (Some(u), _) => (u.url.clone(), u.host.clone(), u.port, u.path.clone(), u.https),
        (None, Some(sim)) => {
            default_model = Some(sim.model.clone());
            let (addr, handle) = crate::sim::spawn(sim.clone(), SocketAddr::from(([127, 0, 0, 1], 0)))
                .await
                .map_err(|e| Error::failed(format!("cannot start the embedded simulated server: {e}")))?;
            server = Some(handle);
            (
                format!("http://{addr}"),
                addr.ip().to_string(),
                addr.port(),
                String::new(),
                false,
            )
        }
        (None, None) => return Err(Error::usage("no target: give --url or keep the embedded server")),
    };
    let addr = resolve(&host, port).await?;
    let (path, models_path) = paths(cfg.api, &url_path, cfg.endpoint.as_deref());
    let tls = if https {
        if cfg.tls.insecure && !silent {
            eprintln!("warning: --insecure: the server's TLS certificate is not verified");
        }
        Some(Tls::new(&host, &cfg.tls).map_err(Error::usage)?)
    } else {
        None
    };
    let authority = if port == if https { 443 } else { 80 } {
        host.clone()
    } else if host.contains(':') {
        format!("[{host}]:{port}")
    } else {
        format!("{host}:{port}")
    };
    let mut client = ClientConfig {
        target: Target {
            url: url.clone(),
            addr,
            authority,
            path,
            models_path,
            tls,
        },
        timeouts: cfg.timeouts,
        headers: cfg.headers.clone(),
        body: BodyOptions {
            api: cfg.api,
            model: String::new(),
            stream: cfg.stream,
            ignore_eos: cfg.workload.ignore_eos,
            continuous_usage: cfg.workload.continuous_usage,
            temperature: cfg.workload.temperature,
            extra: cfg.workload.extra.clone(),
        },
        tokenizer,
        max_event_bytes: client::sse::DEFAULT_MAX_EVENT_BYTES,
        max_body_bytes: 64 << 20,
        request_id_prefix,
        rx_timestamp: cfg.rx_timestamp,
        read_lag: Default::default(),
    };
    let (model, infermeter_sim, context) =
        preflight(&client, cfg.model.as_deref().or(default_model.as_deref())).await?;
    client.body.model = model.clone();
    let simulated = match (&cfg.sim, infermeter_sim) {
        (Some(sim), _) => Some(sim.describe()),
        (None, true) => describe_remote(&client).await,
        (None, false) => None,
    };
    Ok(Ready {
        client,
        url,
        model,
        simulated,
        context,
        _server: server,
    })
}

/// Check the server answers like an OpenAI-compatible one and settle the model name; also
/// says whether the server is an infermeter simulator, and the model's context when listed.
async fn preflight(cfg: &ClientConfig, wanted: Option<&str>) -> Result<(String, bool, Option<u32>), Error> {
    let url = &cfg.target.url;
    let (status, ctype, body) = client::get(cfg, &cfg.target.models_path)
        .await
        .map_err(|(class, msg)| Error::failed(format!("cannot reach {url}: {msg} ({})", class.as_str())))?;
    let looks_json = ctype.contains("json") || body.first() == Some(&b'{');
    if status == 200 && looks_json {
        let models = openai::parse_models(&body).map_err(|e| {
            Error::failed(format!(
                "{url}{} returned JSON without a model list ({e}): is this an OpenAI-compatible server?",
                cfg.target.models_path
            ))
        })?;
        let ours = crate::sim::is_simulator_listing(&body);
        let ctx = |m: &str| openai::model_context(&body, m);
        return match wanted {
            Some(m) if models.iter().any(|x| x == m) || models.is_empty() => Ok((m.to_string(), ours, ctx(m))),
            Some(m) => Err(Error::failed(format!(
                "model '{m}' is not served by {url} (available: {})",
                models.join(", ")
            ))),
            None => models
                .first()
                .cloned()
                .map(|m| {
                    let c = ctx(&m);
                    (m, ours, c)
                })
                .ok_or_else(|| Error::failed(format!("{url} lists no models; pass --model"))),
        };
    }
    if status == 200 {
        return Err(Error::failed(format!(
            "{url}{} answered with {} instead of JSON: is this an OpenAI-compatible server?",
            cfg.target.models_path,
            if ctype.is_empty() {
                "an unknown content type".to_string()
            } else {
                ctype
            }
        )));
    }
    match wanted {
        Some(m) => Ok((m.to_string(), false, None)),
        None => Err(Error::failed(format!(
            "{url}{} answered HTTP {status}; pass --model explicitly",
            cfg.target.models_path
        ))),
    }
}

/// The description an infermeter simulator serves at [`crate::sim::DESCRIBE_PATH`]; `None`
/// when it cannot be read (an older simulator, a proxy in between).
async fn describe_remote(cfg: &ClientConfig) -> Option<crate::sim::Described> {
    let (status, _, body) = client::get(cfg, crate::sim::DESCRIBE_PATH).await.ok()?;
    (status == 200).then(|| serde_json::from_slice(&body).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_paths() {
        assert_eq!(
            paths(Api::Completions, "", None),
            ("/v1/completions".into(), "/v1/models".into())
        );
        assert_eq!(
            paths(Api::Chat, "/v1/", None),
            ("/v1/chat/completions".into(), "/v1/models".into())
        );
        assert_eq!(
            paths(Api::Chat, "/proxy/v1", None),
            ("/proxy/v1/chat/completions".into(), "/proxy/v1/models".into())
        );
        assert_eq!(paths(Api::Completions, "/generate", None).0, "/generate");
        assert_eq!(paths(Api::Completions, "", Some("/x")).0, "/x");
    }
}
