"""Scenarios: what-if retention plans against the latest churn scores, saved plans, comparisons.

Analysts and admins build, save, clone and delete plans; executives read saved plans and
compare them (the engine refuses the rest for them too).
"""

from __future__ import annotations

import streamlit as st

from components import scenario_view as view
from components.shared import auth, cache, status
from components.shared.markdown import plain
from engine import scenarios
from engine.accounts import board, customer
from engine.core.errors import RadarError
from engine.scenarios.simulate import LEVER_COLUMNS, UNREACHED

RESULT = "scenario_result"  # the last run of the Build tab
FLASH = "scenario_flash"  # a message to show after a rerun (saved, cloned, deleted)
OPENED = "scenario_opened"  # the saved plan picked on the Saved plans tab (its selectbox)
OPEN_NEXT = "scenario_open_next"  # the plan to pick on the next run (after save / clone / delete)
PLAN_KEY = "scenario_plan"  # the plan the lever widgets start from
FORM_VERSION = "scenario_form_version"  # bumped when a plan is loaded, so the widgets start afresh
SAVE_VERSION = "scenario_save_version"  # bumped on every new result, so the Save form starts empty
RENEWAL_HELP = "Only accounts renewing within this many days (empty: any time)"
TENURE_HELP = "Only accounts that became customers at most this many days before the scores (empty: any tenure)"
SEGMENT_LISTS = {
    "risk_tiers": ("Risk tier", "tiers"),
    "plans": ("Plan", "plans"),
    "industries": ("Industry", "industries"),
    "regions": ("Region", "regions"),
    "owners": ("Owner", "owners"),
    "segments": ("Behavioural segment", "segments"),
}

viewer = auth.require_viewer("scenarios")
st.title("Scenarios")
data_dir = cache.current_data_dir()
status.require_scores(data_dir)
can_edit = viewer.can("edit_scenarios")


# -- lever widgets --------------------------------------------------------------------------------
# Each widget takes its starting value from the plan in PLAN_KEY and has a key carrying a form
# version: loading a plan (Edit in Build) stores it and bumps the version, so fresh widgets start
# from it. (Values pushed into widget keys through session state were not all honoured by the
# browser: a slider from -100 to 100 showed, and submitted, -100.)
def _plan() -> scenarios.Plan:
    return st.session_state.setdefault(PLAN_KEY, scenarios.Plan())


def _key(lever: str, name: str) -> str:
    return f"sc{st.session_state.get(FORM_VERSION, 0)}_{lever}_{name}"


def _reaches(lever: str) -> bool:
    """Whether the serving model feels `lever` (the assumption levers always apply)."""
    return lever not in LEVER_COLUMNS or bool(cache.lever_reach(data_dir)[lever])


def _start(lever: str, name: str) -> dict:
    """`key` and starting `value` of the widget for one setting (floats stay floats for the widgets).
    A lever the serving model cannot feel is off and locked: its cost would buy nothing the plan can show."""
    settings = _plan().lever(lever)
    default = type(settings).model_fields[name].default
    value = getattr(settings, name) if _reaches(lever) else default
    shown = float(value) if isinstance(default, float) else value
    return {"key": _key(lever, name), "value": shown, "disabled": not _reaches(lever)}


def _seg_key(lever: str, name: str) -> str:
    return _key(lever, f"seg_{name}")


def _seg_value(lever: str, name: str):
    value = getattr(_plan().lever(lever).segment, name)
    return list(value) if isinstance(value, tuple) else value


def load_plan(plan: scenarios.Plan) -> None:
    """Show a plan in the lever widgets on the next run (call from a callback)."""
    st.session_state[PLAN_KEY] = plan
    st.session_state[FORM_VERSION] = st.session_state.get(FORM_VERSION, 0) + 1


def plan_from_widgets() -> scenarios.Plan:
    raw = {}
    for lever, cls in scenarios.LEVERS.items():
        settings = {name: st.session_state[_key(lever, name)] for name in cls.model_fields if name != "segment"}
        segment = {}
        for name in scenarios.Segment.model_fields:
            value = st.session_state.get(_seg_key(lever, name))
            if name in ("renewal_within_days", "max_tenure_days"):
                segment[name] = None if value is None else int(value)
            else:
                segment[name] = list(value or ())
        settings["segment"] = segment
        raw[lever] = settings
    return scenarios.plan_from_dict(raw)


def segment_controls(lever: str, options: dict[str, list[str]]) -> None:
    with st.expander("Segment", icon=":material/filter_alt:"):
        for name, (label, option_key) in SEGMENT_LISTS.items():
            if name == "owners" and not viewer.sees_everyone:
                continue
            chosen, known = _seg_value(lever, name), options.get(option_key, [])
            choices = known + [c for c in chosen if c not in known]  # a saved plan's values stay pickable
            st.multiselect(label, choices, default=chosen, placeholder="All", key=_seg_key(lever, name))
        cols = st.columns(2)
        cols[0].number_input(
            "Renewal within (days)",
            min_value=0,
            step=30,
            help=RENEWAL_HELP,
            value=_seg_value(lever, "renewal_within_days"),
            key=_seg_key(lever, "renewal_within_days"),
        )
        cols[1].number_input(
            "Customer for at most (days)",
            min_value=0,
            step=30,
            help=TENURE_HELP,
            value=_seg_value(lever, "max_tenure_days"),
            key=_seg_key(lever, "max_tenure_days"),
        )


def unreached(lever: str) -> None:
    """Said before anyone moves a lever the serving model cannot feel (a tenure baseline serving, or
    no support tickets loaded): its controls are locked at zero."""
    if not _reaches(lever):
        if lever == "support" and "support_tickets" in customer.not_loaded(cache.warehouse(data_dir)):
            # the cause is the data, not the model: no model could feel a ticket nobody loaded
            st.caption("No support tickets are loaded, so there is nothing for this lever to change. The lever is off.")
            return
        columns = ", ".join(LEVER_COLUMNS[lever]).replace("_", " ")
        st.caption(UNREACHED.format(columns=columns) + " The lever is off.")


def lever_form(options: dict[str, list[str]]) -> bool:
    """The five levers in one form: a run happens on submit only. Returns True when submitted."""
    with st.form("scenario_levers", border=False):
        top = st.columns(3)
        with top[0].container(border=True):
            st.markdown("**CS outreach** · assumption")
            st.number_input("Accounts to contact", min_value=0, step=10, **_start("outreach", "top_n"))
            target = _start("outreach", "target_by")
            st.selectbox(
                "Contact first",
                list(scenarios.TARGETING),
                format_func=scenarios.TARGETING.get,
                key=target["key"],
                index=list(scenarios.TARGETING).index(target["value"]),
            )
            st.slider(
                "Churn reduction per contacted account (%)",
                0.0,
                100.0,
                step=1.0,
                **_start("outreach", "churn_reduction"),
            )
            st.number_input("Cost per account ($)", min_value=0.0, step=50.0, **_start("outreach", "cost_per_account"))
            segment_controls("outreach", options)
        with top[1].container(border=True):
            st.markdown("**Renewal discount** · assumption")
            st.slider("Discount (%)", 0.0, 100.0, step=1.0, **_start("discount", "percent"))
            st.number_input(
                "Churn cut per 1% off",
                min_value=0.0,
                step=0.1,
                **_start("discount", "elasticity"),
                help="How strongly churn answers the discount (its *elasticity*): with 1.5, "
                "10% off makes churn 15% lower.",
            )
            segment_controls("discount", options)
        with top[2].container(border=True):
            st.markdown("**Price change** · assumption")
            st.slider("Price change (%)", -100.0, 100.0, step=1.0, **_start("price", "percent"))
            st.number_input(
                "Churn change per 1% of price",
                min_value=0.0,
                step=0.1,
                **_start("price", "elasticity"),
                help="How strongly churn answers the price change (its *elasticity*): with 1.0, "
                "a price 10% higher makes churn 10% higher.",
            )
            segment_controls("price", options)
        bottom = st.columns(2)
        with bottom[0].container(border=True):
            st.markdown("**Adoption push** · model-based: usage features re-scored by the churn model")
            unreached("adoption")
            st.slider("Usage increase (%)", 0.0, 100.0, step=1.0, **_start("adoption", "usage_increase"))
            st.number_input("Cost per account ($)", min_value=0.0, step=50.0, **_start("adoption", "cost_per_account"))
            segment_controls("adoption", options)
        with bottom[1].container(border=True):
            st.markdown("**Support improvement** · model-based: support features re-scored by the churn model")
            unreached("support")
            st.slider("Resolution time cut (%)", 0.0, 100.0, step=1.0, **_start("support", "resolution_time_cut"))
            st.slider("Open tickets cleared (%)", 0.0, 100.0, step=1.0, **_start("support", "open_tickets_cleared"))
            st.number_input("Cost per account ($)", min_value=0.0, step=50.0, **_start("support", "cost_per_account"))
            segment_controls("support", options)
        return st.form_submit_button("Run scenario", type="primary", icon=":material/play_arrow:")


def build_tab() -> None:
    try:
        frame = cache.segmented_board_frame(data_dir, cache.viewer_key(viewer), cache.snapshot_stamp(data_dir))
    except RadarError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.caption(
        "Set the levers and run: the plan is measured against the latest churn scores. Levers at zero are off. "
        "Model-based levers change the named features and re-score the accounts; the others apply the stated "
        "assumption."
    )
    if lever_form(board.filter_options(frame)):
        try:
            with st.spinner("Running the scenario..."):
                plan = plan_from_widgets()
                st.session_state[RESULT] = scenarios.simulate(cache.warehouse(data_dir), plan, viewer, data_dir)
                _new_save_form()
            st.session_state[PLAN_KEY] = plan  # the widgets start from it when the page is opened again
        except RadarError as exc:
            st.error(str(exc), icon=":material/error:")
            return
    result = st.session_state.get(RESULT)
    if result is None:
        return
    st.divider()
    view.render_result(result, "build")
    with st.form("save_scenario", enter_to_submit=False):  # Enter in a field must not save half-typed tags
        st.markdown("**Save this plan**")
        cols = st.columns([2, 2, 1], vertical_alignment="bottom")
        # Keys carry the result's version: a new run (or a plan loaded) starts with empty fields,
        # not the name and tags typed for the previous plan.
        version = st.session_state.get(SAVE_VERSION, 0)
        name = cols[0].text_input("Name", placeholder="e.g. Q3 save plan", key=f"sc_save_name_{version}")
        tags = cols[1].text_input(
            "Tags", placeholder="comma separated, e.g. q3, renewals", key=f"sc_save_tags_{version}"
        )
        if cols[2].form_submit_button("Save", icon=":material/save:"):
            try:
                saved = scenarios.save(name, result, viewer, tags, data_dir)
            except RadarError as exc:
                st.error(str(exc), icon=":material/error:")
            else:
                st.session_state[FLASH] = f"Saved as #{saved.id} '{plain(saved.name)}'."
                st.session_state[OPEN_NEXT] = saved.id
                _new_save_form()
                st.rerun()


def _new_save_form() -> None:
    st.session_state[SAVE_VERSION] = st.session_state.get(SAVE_VERSION, 0) + 1


def _edit_in_builder(saved: scenarios.SavedScenario) -> None:
    load_plan(saved.plan)
    st.session_state[RESULT] = saved.opened
    _new_save_form()
    st.session_state[FLASH] = f"Loaded #{saved.id} '{plain(saved.name)}' into Build: change the levers and run."


def saved_actions(saved: scenarios.SavedScenario) -> None:
    with st.container(horizontal=True, vertical_alignment="bottom"):
        st.button(
            "Edit in Build",
            icon=":material/edit:",
            on_click=_edit_in_builder,
            args=(saved,),
            key="sc_edit",
            help="Load this plan's levers into the Build tab",
        )
        with st.popover("Clone", icon=":material/content_copy:"):
            new_name = st.text_input("Name of the copy", value=f"Copy of {saved.name}", key=f"sc_clone_name_{saved.id}")
            if st.button("Clone", type="primary", key="sc_clone"):
                try:
                    copy = scenarios.clone(saved.id, viewer, new_name, data_dir)
                except RadarError as exc:
                    st.error(str(exc), icon=":material/error:")
                else:
                    st.session_state[FLASH] = f"Cloned as #{copy.id} '{plain(copy.name)}'."
                    st.session_state[OPEN_NEXT] = copy.id
                    st.rerun()
        with st.popover("Delete", icon=":material/delete:"):
            st.caption(f"Delete #{saved.id} '{plain(saved.name)}' for everyone? This cannot be undone.")
            if st.button("Delete for good", type="primary", key="sc_delete"):
                try:
                    scenarios.delete_saved(saved.id, viewer, data_dir)
                except RadarError as exc:
                    st.error(str(exc), icon=":material/error:")
                else:
                    st.session_state[FLASH] = f"Deleted #{saved.id} '{plain(saved.name)}'."
                    st.session_state[OPEN_NEXT] = None
                    st.rerun()


def saved_tab(saved_all: list[scenarios.SavedScenario]) -> None:
    if not saved_all:
        st.info(
            "No saved plans yet."
            + (" Build one on the Build tab and save it." if can_edit else " Analysts save plans from the Build tab."),
            icon=":material/inbox:",
        )
        return
    tags = sorted({t for s in saved_all for t in s.tags})
    cols = st.columns([1, 3], vertical_alignment="bottom")
    tag = cols[0].selectbox("Tag", ["All tags", *tags], key="sc_tag")
    shown = [s for s in saved_all if tag == "All tags" or tag in s.tags]
    st.dataframe(view.saved_table(shown), hide_index=True, width="stretch")
    ids = [s.id for s in shown]
    names = {s.id: f"#{s.id} {s.name}" for s in shown}
    if OPEN_NEXT in st.session_state:  # set by a button in the previous run, before this widget exists
        st.session_state[OPENED] = st.session_state.pop(OPEN_NEXT)
    if st.session_state.get(OPENED) not in ids:
        st.session_state[OPENED] = ids[0]
    chosen = cols[1].selectbox("Open", ids, format_func=names.get, key=OPENED)
    try:
        saved = scenarios.open_saved(chosen, viewer, data_dir)
    except RadarError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    st.subheader(plain(saved.name))
    st.caption(
        f"Saved by {saved.author} on {saved.created_at:%Y-%m-%d %H:%M}"
        + (f" · tags: {', '.join(plain(t) for t in saved.tags)}" if saved.tags else "")
        + (f" · cloned from #{saved.cloned_from}" if saved.cloned_from else "")
        + " · the numbers as they were when saved"
    )
    if can_edit:
        saved_actions(saved)
    view.render_result(saved.opened, f"saved_{saved.id}")


def compare_tab(saved_all: list[scenarios.SavedScenario]) -> None:
    if len(saved_all) < scenarios.COMPARE_MIN:
        st.info("Comparing needs at least two saved plans.", icon=":material/compare_arrows:")
        return
    names = {s.id: f"#{s.id} {s.name}" for s in saved_all}
    cols = st.columns([3, 1], vertical_alignment="bottom")
    picked = cols[0].multiselect(
        "Plans to compare (2 to 5)",
        list(names),
        format_func=names.get,
        max_selections=scenarios.COMPARE_MAX,
        key="sc_compare_ids",
    )
    rank_by = cols[1].selectbox(
        "Rank by", list(scenarios.METRICS), format_func=lambda k: scenarios.METRICS[k].label, key="sc_rank_by"
    )
    if len(picked) < scenarios.COMPARE_MIN:
        st.caption("Pick two to five saved plans.")
        return
    try:
        comparison = scenarios.compare(picked, viewer, rank_by, data_dir)
    except RadarError as exc:
        st.error(str(exc), icon=":material/error:")
        return
    best = comparison.rows.iloc[0]
    st.markdown(
        f"**{best['name']}** ranks first by {comparison.metric.label.lower()} "
        f"({'higher' if comparison.metric.higher_is_better else 'lower'} is better)."
    )
    st.plotly_chart(view.comparison_bars(comparison), key="sc_compare_chart")
    view.comparison_table(comparison)
    for note in comparison.notes:
        st.warning(note, icon=":material/warning:")


flash = st.session_state.pop(FLASH, None)
if flash:
    st.success(flash, icon=":material/check_circle:")
try:
    saved_plans = scenarios.list_saved(viewer, data_dir=data_dir)
except RadarError as exc:
    st.error(str(exc), icon=":material/error:")
    st.stop()

if can_edit:
    build, saved_view, compare_view = st.tabs(["Build", "Saved plans", "Compare"])
    with build:
        build_tab()
else:
    st.caption("You can read and compare saved plans; analysts build and save them.")
    saved_view, compare_view = st.tabs(["Saved plans", "Compare"])
with saved_view:
    saved_tab(saved_plans)
with compare_view:
    compare_tab(saved_plans)
