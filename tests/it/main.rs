//! The integration tests: one binary, real Prometheus servers started once and stopped at
//! the end, tests named as sentences.

mod alerting;
mod auth;
mod catalog;
mod chart;
mod check;
mod dashboard;
mod errors;
mod faults;
mod fidelity;
mod incidents;
mod lint;
mod openslo;
mod query;
mod real;
mod realdb;
mod recorded;
mod report;
mod rules;
mod secrets;
mod sim;
mod sites;
mod status;
mod support;
mod victoria;
mod week;

use libtest_mimic::{Arguments, Completion, Trial};

use support::TestResult;

fn trial(name: &str, f: impl FnOnce() -> TestResult + Send + 'static) -> Trial {
    let name = name.replace(' ', "");
    let label = name.clone();
    Trial::ignorable_test(name, move || {
        support::set_current_test(&label);
        let started = std::time::Instant::now();
        let result = f();
        support::record_duration(&label, started.elapsed());
        match result {
            Ok(()) => Ok(Completion::Completed),
            Err(support::Skip(reason)) => Ok(Completion::ignored_with(reason)),
        }
    })
}

macro_rules! trials {
    ($($path:path),* $(,)?) => {
        vec![$(trial(stringify!($path), $path)),*]
    };
}

fn main() {
    let args = Arguments::from_args();
    let mut tests = trials![
        errors::unknown_query_is_a_usage_error_with_a_suggestion,
        errors::very_long_ranges_and_far_times_are_usage_errors_not_panics,
        errors::the_longest_slo_window_lint_accepts_is_evaluated_by_every_command,
        errors::a_plain_date_is_a_time_and_a_future_instant_is_refused,
        errors::a_missing_config_file_is_file_not_found_without_the_lint_hint,
        errors::random_time_flags_never_panic_any_command,
        errors::a_site_without_signals_sends_no_empty_query,
        errors::injected_label_matcher_is_rejected_before_any_request,
        errors::malformed_query_toml_is_reported_with_file_line_and_column,
        errors::malformed_slo_toml_is_reported_with_file_line_and_column,
        errors::invalid_promql_in_the_catalog_is_a_config_error,
        errors::unreachable_prometheus_exits_3_naming_the_url,
        errors::prometheus_error_reply_exits_3_with_its_message,
        errors::persistent_503_is_retried_then_exits_3,
        errors::a_burst_of_503_is_retried_and_succeeds,
        errors::html_reply_exits_3_as_not_json,
        errors::truncated_reply_exits_3_as_truncated,
        errors::slow_prometheus_times_out_with_exit_3,
        errors::partial_answers_fail_unless_allow_partial,
        errors::partial_answers_of_each_engine_leave_status_and_report_undecided,
        errors::unsupported_format_is_a_usage_error,
        errors::bad_time_flags_are_usage_errors,
        errors::bearer_token_is_sent_and_never_shown,
        errors::concurrency_bounds_the_queries_in_flight,
        lint::the_shipped_catalog_and_slos_lint_clean,
        lint::lint_lists_every_problem_not_only_the_first,
        lint::lint_lists_every_problem_inside_one_entry,
        lint::lint_json_lists_problems_with_positions,
        lint::lint_finds_every_mistake_of_a_broken_site,
        lint::docs_catalog_md_matches_the_catalog,
        lint::every_plan_line_maps_to_a_query,
        query::rps_table_shows_humanised_values_per_service,
        query::range_query_chooses_a_step_under_the_point_budget,
        query::csv_output_has_raw_values,
        query::adhoc_promql_answers_like_the_catalog_and_is_checked_offline,
        query::escaped_label_param_is_neutralised_not_executed,
        query::every_catalog_query_has_an_expected_value,
        sim::simulator_is_deterministic_for_a_seed,
        sim::openmetrics_history_is_valid_and_promtool_backfills_it,
        sim::scenario_files_are_validated,
        sim::serve_continues_a_history_and_passes_promtool_check_metrics,
        sim::request_counts_and_error_ratios_match_the_truth,
        sim::lost_order_share_matches_the_truth,
        sim::dead_letters_by_queue_and_reason_match_the_truth,
        sim::queue_depth_at_the_outage_peak_matches_the_truth,
        sim::processing_time_quantiles_fall_in_the_truths_bucket,
        sim::truth_lists_every_scripted_incident_with_its_cause,
        sim::counters_are_consistent_with_each_other,
        check::every_slo_value_matches_the_truth,
        check::gauge_slos_match_the_truth_at_their_peaks,
        check::mes_fast_burn_fires_inside_the_outage_and_not_before,
        check::a_quiet_week_passes_and_the_incident_week_breaches,
        check::exit_codes_follow_the_contract,
        check::a_failing_query_does_not_hide_the_other_slos,
        check::no_traffic_is_inconclusive_never_nan,
        check::calendar_months_are_calendar_months,
        check::outputs_match_their_schemas_junit_and_markdown,
        status::status_names_mes_during_the_outage,
        status::status_is_healthy_at_quiet_times,
        status::status_is_unknown_when_prometheus_is_stopped,
        status::a_component_without_metrics_says_no_data_not_zero,
        status::status_plain_text_snapshot,
        status::watch_fits_an_80x24_tmux_pane,
        alerting::status_shows_alertmanager_alerts_silences_and_where_they_disagree,
        status::unreachable_status_fits_80x24_and_every_slo_cell_says_inconclusive,
        status::status_sends_few_queries,
        status::watch_refreshes_until_interrupted,
        incidents::every_scripted_incident_is_found_within_two_steps,
        incidents::the_quiet_week_has_no_incidents,
        incidents::incidents_table_and_markdown_name_the_outage,
        support::schema::the_schema_validator_rejects_what_the_keywords_forbid,
        report::report_kpis_match_the_truth_for_both_weeks,
        report::html_report_loads_in_chromium_without_console_errors,
        report::report_markdown_and_json_snapshots,
        report::a_month_is_a_calendar_month_and_missing_data_is_listed,
        report::report_without_prometheus_exits_3_and_lists_what_is_missing,
        rules::generated_rules_pass_promtool_check,
        rules::promtool_unit_tests_fire_where_they_should,
        realdb::db_gauges_match_the_servers,
        realdb::db_counters_match_the_driven_scenario,
        realdb::statement_counts_are_exact_integers,
        realdb::client_errors_match_the_driven_scenario,
        realdb::db_slos_and_status_rows_follow_the_servers,
        realdb::a_database_that_goes_down_is_named_and_its_slos_are_inconclusive,
        realdb::db_usage_signals_come_from_the_process_and_node_exporters,
        rules::sloth_naming_passes_promtool_and_answers_sloths_queries,
        rules::rules_and_check_agree_on_windows_factors_and_burn_rates,
        rules::a_live_outage_fires_the_page_alert_and_incidents_lists_it,
        recorded::recorded_and_raw_slis_agree,
        recorded::recorded_and_raw_kpis_agree,
        recorded::recorded_and_raw_incidents_agree,
        recorded::recorded_status_signals_are_the_values_of_the_last_evaluation,
        recorded::stale_rules_are_reported_and_not_used,
        recorded::without_the_at_modifier_every_slo_is_read_raw,
        victoria::catalog_queries_answer_on_victoriametrics_as_on_prometheus,
        victoria::check_on_victoriametrics_agrees_with_prometheus,
        victoria::status_on_victoriametrics_agrees_with_prometheus,
        victoria::weekly_report_on_victoriametrics_agrees_with_prometheus,
        victoria::recorded_slis_on_victoriametrics_agree_with_raw,
        victoria::vmalert_loads_the_generated_rules,
        sites::renaming_a_catalog_query_in_the_files_keeps_every_screen_populated,
        sites::the_payments_site_runs_every_command_with_no_code_change,
        sites::init_writes_a_lint_clean_starter_for_what_prometheus_has,
        chart::png_and_svg_charts_are_valid_and_not_empty,
        chart::svg_structure_snapshot,
        chart::the_step_follows_the_drawing_width,
        chart::terminal_chart_draws_braille_with_the_slo_limits,
        chart::chart_refuses_unknown_file_types_and_sizes,
        dashboard::dashboards_type_check_against_grafanas_published_types,
        dashboard::every_panel_query_parses_and_returns_data_on_the_simulated_week,
        dashboard::dashboard_kpis_over_a_week_equal_the_weekly_report,
        dashboard::a_deployed_rule_file_switches_slo_panels_to_its_recorded_series,
        dashboard::recorded_panels_equal_the_sli_panels_under_promtool,
        dashboard::the_payments_site_gets_its_own_dashboard_with_no_code_change,
        dashboard::dashboard_out_title_and_errors,
        dashboard::dashboard_summary_snapshot,
        openslo::export_then_import_gives_the_same_check_results,
        openslo::the_export_of_the_payments_site_is_stable,
        openslo::a_foreign_openslo_file_imports_and_judges_as_the_original,
        openslo::import_names_the_file_line_document_and_field_it_cannot_represent,
        openslo::export_names_what_it_cannot_write_and_takes_slo_filters,
        real::every_rabbitmq_query_is_checked_against_the_real_broker,
        real::a_broker_that_goes_down_is_named_and_its_slos_are_inconclusive,
        fidelity::the_simulated_broker_has_the_real_brokers_series_object_by_object,
        fidelity::the_simulated_database_has_the_real_exporters_series_object_by_object,
        fidelity::the_kept_real_scrapes_match_the_simulator,
        real::gauges_equal_what_the_driver_holds,
        real::dead_letter_counts_are_exact_integers,
        real::rates_fall_within_the_derived_tolerance,
        real::message_age_and_processing_time_match_the_truth,
        real::rabbitmq_slos_and_the_status_row_follow_the_truth,
        real::a_counter_reset_is_marked_as_an_estimate_and_the_rest_stays_exact,
    ];
    tests.extend(auth::trials());
    tests.extend(faults::trials());
    tests.extend(secrets::trials());
    // One test per catalog query, generated from queries/ so a new query cannot go untested.
    let (cat, problems) = vitals::Catalog::load_dir(&support::repo().join("queries"));
    assert!(problems.is_empty(), "queries/ has problems: {problems:#?}");
    for q in cat.queries {
        let name = q.name.clone();
        tests.push(trial(&format!("catalog::{}", q.name), move || {
            catalog::check_query(&name)
        }));
    }
    let conclusion = libtest_mimic::run(&args, tests);
    support::prometheus::shutdown();
    support::print_slowest(10);
    support::prometheus::print_busiest(10);
    conclusion.exit();
}
