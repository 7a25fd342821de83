//! The configuration a command works from: the query catalog, the site and the SLOs, read
//! and checked against each other before any query is sent.
//!
//! They refer to each other — the catalog's `components` params list the site's
//! components, SLOs name components, the site takes levels from SLOs — so they are loaded
//! in that order: the site's names first, then the catalog bound to them, the SLOs, and
//! last everything else the site says.

use crate::catalog::Catalog;
use crate::diag::{Problem, Source};
use crate::exit::Failure;
use crate::site::{self, Site};
use crate::slo::model::{self as slo_model, Slo};

/// Everything configured, validated.
#[derive(Clone, Debug)]
pub struct Config {
    pub catalog: Catalog,
    pub site: Site,
    pub slos: Vec<Slo>,
    /// The SLO file, as read (named in outputs and generated rules).
    pub slo_source: Source,
}

impl Config {
    /// Checks the three files together. The catalog comes with the problems of its own
    /// loading; every problem of every file is returned, none stops the others. Without a
    /// site file, the SLOs' components are the site (see [`site::implicit`]).
    pub fn load(
        catalog: (Catalog, Vec<Problem>),
        site_source: Option<&Source>,
        slo_source: &Source,
    ) -> (Config, Vec<Problem>) {
        let (mut catalog, mut problems) = catalog;
        let Some(site_source) = site_source else {
            // Its components are all generic: no catalog param lists any of them.
            problems.extend(catalog.bind_components(&site::Kind::ALL, &Default::default()));
            let (slos, p) = slo_model::load(slo_source, &catalog, None);
            let site = site::implicit(&slos);
            if p.iter()
                .any(|p| p.message.contains("the site has no components of kind"))
            {
                problems.push(Problem::in_file(
                    &slo_source.path,
                    "there is no site.toml beside this SLO file, so the site is only its SLOs' components, and catalog params that list a kind's components (`components = \"api\"`) have no values: put the site file beside it, or pass --site",
                ));
            }
            problems.extend(p);
            return (
                Config {
                    catalog,
                    site,
                    slos,
                    slo_source: slo_source.clone(),
                },
                problems,
            );
        };
        let (parsed, p) = site::parse(site_source);
        problems.extend(p);
        problems.extend(catalog.bind_components(&site::Kind::ALL, &parsed.services_by_kind()));
        let (slos, p) = slo_model::load(slo_source, &catalog, Some(&parsed.names()));
        problems.extend(p);
        let (site, p) = site::resolve(&parsed, &catalog, &slos);
        problems.extend(p);
        (
            Config {
                catalog,
                site,
                slos,
                slo_source: slo_source.clone(),
            },
            problems,
        )
    }

    /// The reference system's configuration compiled into the binary.
    #[cfg(test)]
    pub(crate) fn builtin() -> (Config, Vec<Problem>) {
        Config::load(
            Catalog::builtin(),
            Some(&Source::new("<built-in>/site.toml", site::BUILTIN)),
            &Source::new("<built-in>/slo.toml", slo_model::BUILTIN),
        )
    }

    /// SLOs named with `--slo` and/or of the `--component`s; every name must exist.
    pub(crate) fn select(
        &self,
        names: &[String],
        components: &[String],
    ) -> Result<Vec<Slo>, Failure> {
        let all = &self.slos;
        for n in names {
            if !all.iter().any(|s| &s.name == n) {
                let hint = crate::catalog::closest(n, all.iter().map(|s| s.name.as_str()))
                    .map(|c| format!("did you mean `{c}`? "))
                    .unwrap_or_default();
                return Err(Failure::usage_hint(
                    format!("no SLO named `{n}`"),
                    format!(
                        "{hint}the SLOs are: {}",
                        all.iter()
                            .map(|s| s.name.as_str())
                            .collect::<Vec<_>>()
                            .join(", ")
                    ),
                ));
            }
        }
        for c in components {
            if !all.iter().any(|s| &s.component == c) {
                let mut known: Vec<&str> = all.iter().map(|s| s.component.as_str()).collect();
                known.sort();
                known.dedup();
                return Err(Failure::usage_hint(
                    format!("no SLO has component `{c}`"),
                    format!("components: {}", known.join(", ")),
                ));
            }
        }
        Ok(all
            .iter()
            .filter(|s| names.is_empty() || names.contains(&s.name))
            .filter(|s| components.is_empty() || components.contains(&s.component))
            .cloned()
            .collect())
    }

    pub(crate) fn slo(&self, name: &str) -> Option<&Slo> {
        self.slos.iter().find(|s| s.name == name)
    }

    /// Whether an SLO alerts (budget SLOs always do; thresholds unless `severity = "none"`).
    pub(crate) fn alerts(&self, name: &str) -> bool {
        self.slo(name).is_none_or(|s| {
            !matches!(
                s.objective,
                slo_model::Objective::Threshold {
                    severity: slo_model::Alerting::None,
                    ..
                }
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_configuration_is_consistent() {
        let (config, problems) = Config::builtin();
        assert!(problems.is_empty(), "{problems:#?}");
        assert_eq!(config.site.components.len(), 8);
        assert!(!config.slos.is_empty());
        // The catalog's service params follow the site's APIs.
        let rps = config.catalog.get("api.rps").unwrap();
        assert_eq!(rps.params["service"].default, "shop|crm|mes");
    }
}
