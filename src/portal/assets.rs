//! CSS and JS served by tower-http from the `static/` directory under a
//! content-hashed path, so browsers cache them forever and still pick up a
//! new release at once.

use std::path::{Path, PathBuf};

use axum::Router;
use http::HeaderValue;
use sha2::{Digest, Sha256};
use tower_http::services::ServeDir;
use tower_http::set_header::SetResponseHeaderLayer;

pub struct Assets {
    pub dir: PathBuf,
    /// Short hash of every file's contents, part of every asset URL.
    pub version: String,
}

impl Assets {
    /// Uses `dir` if given, else the first of `./static`, the installed
    /// location and the source checkout that exists.
    pub fn locate(dir: Option<&Path>) -> Assets {
        let dir = dir.map(Path::to_path_buf).unwrap_or_else(|| {
            [
                PathBuf::from("static"),
                PathBuf::from("/usr/share/spaces-connector/static"),
                Path::new(env!("CARGO_MANIFEST_DIR")).join("static"),
            ]
            .into_iter()
            .find(|p| p.join("app.css").is_file())
            .unwrap_or_else(|| PathBuf::from("static"))
        });
        let version = content_hash(&dir);
        Assets { dir, version }
    }

    /// URL prefix of the assets, e.g. `/static/1a2b3c4d5e`.
    pub fn prefix(&self) -> String {
        format!("/static/{}", self.version)
    }

    pub fn routes<S: Clone + Send + Sync + 'static>(&self) -> Router<S> {
        Router::new().nest_service(
            &self.prefix(),
            tower::ServiceBuilder::new()
                .layer(SetResponseHeaderLayer::overriding(
                    http::header::CACHE_CONTROL,
                    HeaderValue::from_static("public, max-age=31536000, immutable"),
                ))
                .service(ServeDir::new(&self.dir)),
        )
    }
}

fn content_hash(dir: &Path) -> String {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    files.sort();
    let mut hasher = Sha256::new();
    for f in files {
        if let Ok(bytes) = std::fs::read(&f) {
            hasher.update(
                f.file_name()
                    .map(|n| n.as_encoded_bytes())
                    .unwrap_or_default(),
            );
            hasher.update(&bytes);
        }
    }
    hex::encode(hasher.finalize())[..10].to_string()
}
