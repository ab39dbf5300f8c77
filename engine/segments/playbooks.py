"""What a CS team does with each archetype: the motion, what to say, and through which channel."""

from __future__ import annotations

from engine.core.contracts import Contract


class Playbook(Contract):
    motion: str  # the recommended motion, one sentence
    talking_points: tuple[str, ...]
    channel: str


PLAYBOOKS: dict[str, Playbook] = {
    "not_enough_data": Playbook(
        motion="Run the standard onboarding sequence; judge the account once it has two months of activity.",
        talking_points=(
            "Confirm the goals the account bought the product for and who owns them.",
            "Check that the first users are invited and the core workflow is set up.",
            "Agree on a first success milestone for the next 30 days.",
        ),
        channel="Onboarding emails and a kickoff call",
    ),
    "dormant": Playbook(
        motion="Win the account back before the renewal: it pays, but nobody uses the product.",
        talking_points=(
            "Find out whether the need still exists and who owns it now.",
            "Offer a relaunch: setup help, training and one quick win.",
            "Agree on a usage goal for the next 30 days, and plan the renewal conversation.",
        ),
        channel="CSM call, with a note from the executive sponsor",
    ),
    "contracting": Playbook(
        motion="Find out why revenue went down before the next renewal, and protect what is left.",
        talking_points=(
            "Ask what changed: budget, team size, a competing tool, or unused seats.",
            "Show the value delivered on the remaining plan with their own usage figures.",
            "Offer a right-sized plan or a success plan instead of a further cut.",
        ),
        channel="CSM call with the economic buyer",
    ),
    "support_heavy": Playbook(
        motion="Fix the underlying problems behind the tickets and repair the relationship.",
        talking_points=(
            "Acknowledge the open issues and give a dated plan for each.",
            "Group the recent tickets by topic and address the biggest one first.",
            "Offer a named support contact or a technical review session.",
        ),
        channel="Escalation call with support lead, then a weekly check-in",
    ),
    "quiet_at_risk": Playbook(
        motion="Re-engage now: usage is low and still falling.",
        talking_points=(
            "Ask whether the original use case still exists and who owns it today.",
            "Share a short re-activation plan with one quick win.",
            "Offer a refresher training for the team.",
        ),
        channel="Personal email from the CSM, then a call",
    ),
    "drifting_power": Playbook(
        motion="Catch the drop early: heavy users are doing less than two months ago.",
        talking_points=(
            "Ask whether the champion or the team changed.",
            "Point to the workflows they used most and what is new in them.",
            "Invite the power users to a roadmap or beta session.",
        ),
        channel="CSM call with the champion",
    ),
    "cooling": Playbook(
        motion="Check in before the dip becomes a trend.",
        talking_points=(
            "Ask how the last month went and whether priorities shifted.",
            "Share one tip for the workflow they use most.",
            "Offer help with anything blocking the team.",
        ),
        channel="Email check-in from the CSM",
    ),
    "new_ramping": Playbook(
        motion="Accelerate adoption while momentum is high.",
        talking_points=(
            "Celebrate the progress with the numbers that grew.",
            "Introduce the next features that fit their use case.",
            "Plan the rollout to more teams or users.",
        ),
        channel="Onboarding check-in call",
    ),
    "expanding": Playbook(
        motion="Support the growth and look for the next expansion.",
        talking_points=(
            "Thank them for the expansion and confirm the new users are set up.",
            "Review which teams could benefit next.",
            "Ask for a reference or case study.",
        ),
        channel="Account executive and CSM joint call",
    ),
    "power_users": Playbook(
        motion="Turn deep adoption into advocacy and expansion.",
        talking_points=(
            "Invite them to the customer advisory board or a beta.",
            "Ask for a review, reference or case study.",
            "Explore higher tiers or add-ons that match their usage.",
        ),
        channel="Executive business review",
    ),
    "single_champion": Playbook(
        motion="Widen adoption beyond the few people who use the product.",
        talking_points=(
            "Ask the active users who else should be involved.",
            "Offer team training to bring inactive seats on board.",
            "Identify a second sponsor so the account does not depend on one person.",
        ),
        channel="Champion call, then a team webinar",
    ),
    "steady_core": Playbook(
        motion="Keep the relationship warm with a light-touch cadence.",
        talking_points=(
            "Share product updates relevant to their use.",
            "Check satisfaction at each quarterly touchpoint.",
            "Look for one more workflow to adopt.",
        ),
        channel="Quarterly email or digital touch",
    ),
}
