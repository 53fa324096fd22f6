from django.urls import path

from . import (
    admin_views,
    autoreply_views,
    compose_views,
    connecting,
    crm_board_views,
    crm_domain_views,
    crm_pipeline_views,
    crm_save_views,
    crm_settings_views,
    crm_views,
    dashboard_views,
    inbox_views,
    limits_views,
    login_views,
    notification_views,
    people_views,
    personal_views,
    quarantine_views,
    retention_views,
    routing_views,
    shared_mailbox_views,
    sla_views,
    time_zone_views,
    tracking_report_views,
    tracking_views,
    views,
)

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("mailboxes/", views.mailbox_list, name="mailboxes"),
    path(
        "mailboxes/connect/",
        shared_mailbox_views.connect_shared_mailbox,
        name="connect_shared_mailbox",
    ),
    # A mailbox being connected (shared or personal): its page polls the job's check.
    path(
        "mailboxes/connect/checks/<int:check_id>/",
        connecting.connection_check,
        name="connection_check",
    ),
    path(
        "mailboxes/connect/checks/<int:check_id>/status/",
        connecting.connection_check_status,
        name="connection_check_status",
    ),
    path("mailboxes/<int:mailbox_id>/", views.conversation_list, name="mailbox"),
    path("mailboxes/<int:mailbox_id>/folders/", views.mailbox_folders, name="mailbox_folders"),
    path(
        "mailboxes/<int:mailbox_id>/settings/",
        shared_mailbox_views.mailbox_settings,
        name="mailbox_settings",
    ),
    path("mailboxes/<int:mailbox_id>/sync/", shared_mailbox_views.sync_now, name="sync_now"),
    path(
        "mailboxes/<int:mailbox_id>/access/",
        shared_mailbox_views.mailbox_access,
        name="mailbox_access",
    ),
    path(
        "mailboxes/<int:mailbox_id>/access/<int:grant_id>/remove/",
        shared_mailbox_views.revoke_grant,
        name="revoke_grant",
    ),
    path("conversations/<int:conversation_id>/", views.conversation_detail, name="conversation"),
    path(
        "conversations/<int:conversation_id>/messages/<int:message_id>/delete/",
        views.conversation_message_delete,
        name="conversation_message_delete",
    ),
    path("messages/<int:message_id>/body/", views.message_body, name="message_body"),
    # An inline (cid:) image by its position among the message's parts, never by its
    # Content-ID, which a sender chooses and could make a path ("../../admin").
    path(
        "messages/<int:message_id>/inline/<int:position>/",
        views.message_inline,
        name="message_inline",
    ),
    path("messages/<int:message_id>/original/", views.message_original, name="message_original"),
    path("messages/<int:message_id>/original.eml", views.message_eml, name="message_eml"),
    path("messages/<int:message_id>/text/", views.message_text, name="message_text"),
    path(
        "messages/<int:message_id>/attachments/<int:attachment_id>/",
        views.message_attachment,
        name="message_attachment",
    ),
    # Messages that could not be parsed (postroom/web/quarantine_views.py), for admins.
    path("quarantine/", quarantine_views.quarantine, name="quarantine"),
    path(
        "quarantine/<int:message_id>/reprocess/",
        quarantine_views.reprocess,
        name="quarantine_reprocess",
    ),
    path(
        "messages/<int:message_id>/images/allow/",
        views.allow_sender_images,
        name="allow_sender_images",
    ),
    path(
        "messages/<int:message_id>/images/disallow/",
        views.disallow_sender_images,
        name="disallow_sender_images",
    ),
    path("search/", views.search_messages, name="search"),
    # Writing email (postroom/web/compose_views.py).
    path("mailboxes/<int:mailbox_id>/compose/", compose_views.compose_new, name="compose"),
    path("mailboxes/<int:mailbox_id>/outbox/", compose_views.outbox, name="outbox"),
    path("outbox/<int:outbox_id>/undo/", compose_views.undo_send, name="undo_send"),
    path("outbox/<int:outbox_id>/retry/", compose_views.retry_send, name="retry_send"),
    path("outbox/<int:outbox_id>/edit/", compose_views.failed_to_draft, name="failed_to_draft"),
    path("drafts/<int:draft_id>/discard/", compose_views.discard_draft, name="discard_draft"),
    path("signatures/", compose_views.signatures, name="signatures"),
    path(
        "mailboxes/<int:mailbox_id>/signature/",
        compose_views.mailbox_signature,
        name="mailbox_signature",
    ),
    path("mailboxes/<int:mailbox_id>/templates/", compose_views.template_list, name="templates"),
    path(
        "mailboxes/<int:mailbox_id>/templates/new/",
        compose_views.template_edit,
        name="template_new",
    ),
    path(
        "mailboxes/<int:mailbox_id>/templates/<int:template_id>/",
        compose_views.template_edit,
        name="template_edit",
    ),
    path(
        "mailboxes/<int:mailbox_id>/templates/<int:template_id>/delete/",
        compose_views.template_delete,
        name="template_delete",
    ),
    path(
        "conversations/<int:conversation_id>/reply/",
        compose_views.compose_reply,
        {"mode": "reply"},
        name="reply",
    ),
    path(
        "conversations/<int:conversation_id>/reply-all/",
        compose_views.compose_reply,
        {"mode": "reply_all"},
        name="reply_all",
    ),
    path(
        "conversations/<int:conversation_id>/forward/",
        compose_views.compose_reply,
        {"mode": "forward"},
        name="forward",
    ),
    path("dashboard/", dashboard_views.dashboard, name="dashboard"),
    path("reports/tracking/", tracking_report_views.tracking_report, name="tracking_report"),
    path("notifications/", views.notification_list, name="notifications"),
    path("notifications/read/", views.notifications_read, name="notifications_read"),
    path("notifications/live/", notification_views.notifications_live, name="notifications_live"),
    path(
        "notifications/settings/",
        notification_views.notification_settings,
        name="notification_settings",
    ),
    # The CRM (crm_views.py: lists, item pages, forms; crm_board_views.py: kanban, smart types).
    path("crm/", crm_views.crm_home, name="crm"),
    path("leads/", crm_views.lead_list, name="leads"),
    path("leads/new/", crm_views.lead_form, name="lead_create"),
    path("leads/<int:lead_id>/", crm_views.lead_detail, name="lead"),
    path("leads/<int:lead_id>/edit/", crm_views.lead_form, name="lead_edit"),
    path("leads/<int:lead_id>/convert/", crm_views.lead_convert, name="lead_convert"),
    path("contacts/", crm_views.contact_list, name="contacts"),
    path("contacts/new/", crm_views.contact_form, name="contact_create"),
    path("contacts/<int:contact_id>/", crm_views.contact_detail, name="contact"),
    path("contacts/<int:contact_id>/edit/", crm_views.contact_form, name="contact_edit"),
    path(
        "contacts/<int:contact_id>/join-company/",
        crm_domain_views.contact_join_company,
        name="contact_join_company",
    ),
    path("companies/", crm_views.company_list, name="companies"),
    path("companies/new/", crm_views.company_form, name="company_create"),
    path("companies/<int:company_id>/", crm_views.company_detail, name="company"),
    path("companies/<int:company_id>/edit/", crm_views.company_form, name="company_edit"),
    path("deals/", crm_views.deal_list, name="deals"),
    path("deals/board/", crm_board_views.deal_board, name="deal_board"),
    path("deals/new/", crm_views.deal_form, name="deal_create"),
    path("deals/<int:deal_id>/", crm_views.deal_detail, name="deal"),
    path("deals/<int:deal_id>/edit/", crm_views.deal_form, name="deal_edit"),
    path("deals/<int:deal_id>/stage/", crm_views.deal_stage, name="deal_stage"),
    path("smart/<slug:slug>/", crm_views.smart_item_list, name="smart_items"),
    path("smart/<slug:slug>/board/", crm_board_views.smart_board, name="smart_board"),
    path("smart/<slug:slug>/new/", crm_views.smart_item_form, name="smart_item_create"),
    path("smart-items/<int:item_id>/", crm_views.smart_item_detail, name="smart_item"),
    path("smart-items/<int:item_id>/edit/", crm_views.smart_item_form, name="smart_item_edit"),
    path("smart-items/<int:item_id>/stage/", crm_views.smart_item_stage, name="smart_item_stage"),
    # Before crm/<kind>/<id>/delete/, which would take these deletes for an item's.
    path(
        "crm/smart-types/<int:type_id>/delete/",
        crm_board_views.smart_type_delete,
        name="smart_type_delete",
    ),
    # The pipeline editor (crm_pipeline_views.py).
    path("crm/settings/", crm_settings_views.crm_settings, name="crm_settings"),
    path("crm/pipelines/", crm_pipeline_views.pipeline_list, name="pipelines"),
    path("crm/pipelines/new/", crm_pipeline_views.pipeline_form, name="pipeline_create"),
    path(
        "crm/pipelines/<int:pipeline_id>/",
        crm_pipeline_views.pipeline_form,
        name="pipeline_edit",
    ),
    path(
        "crm/pipelines/<int:pipeline_id>/delete/",
        crm_pipeline_views.pipeline_delete,
        name="pipeline_delete",
    ),
    path("crm/<str:kind>/<int:item_id>/comment/", crm_views.add_comment, name="crm_comment"),
    path("crm/<str:kind>/<int:item_id>/tasks/", crm_views.add_task, name="crm_task_create"),
    path("crm/tasks/<int:task_id>/done/", crm_views.complete_task, name="crm_task_done"),
    path("crm/<str:kind>/<int:item_id>/delete/", crm_views.delete_item, name="crm_delete"),
    # Saving an email to the CRM by hand, moving it between items (crm_save_views.py).
    path("messages/<int:message_id>/crm/save/", crm_save_views.save_to_crm, name="crm_save"),
    path("messages/<int:message_id>/crm/move/", crm_save_views.move_email, name="crm_move"),
    path("crm/items/search/", crm_save_views.item_search, name="crm_item_search"),
    path("crm/smart-types/", crm_board_views.smart_type_list, name="smart_types"),
    path("crm/smart-types/new/", crm_board_views.smart_type_form, name="smart_type_create"),
    path("crm/smart-types/<int:type_id>/", crm_board_views.smart_type_form, name="smart_type_edit"),
    # Roles, departments and people, for administrators (admin_views.py).
    path("people/roles/", admin_views.role_list, name="roles"),
    path("people/roles/<int:role_id>/", admin_views.role_detail, name="role"),
    path("people/roles/<int:role_id>/delete/", admin_views.role_delete, name="role_delete"),
    path("people/departments/", admin_views.department_list, name="departments"),
    path(
        "people/departments/<int:department_id>/",
        admin_views.department_detail,
        name="department",
    ),
    path(
        "people/departments/<int:department_id>/delete/",
        admin_views.department_delete,
        name="department_delete",
    ),
    # People: the list, a person, adding and inviting, deactivating (people_views.py).
    path("people/", people_views.user_list, name="people"),
    path("people/add/", people_views.person_add, name="person_add"),
    path("people/<int:user_id>/", people_views.user_access, name="user_access"),
    path(
        "people/<int:user_id>/invite/",
        people_views.person_invite_again,
        name="person_invite_again",
    ),
    path(
        "people/<int:user_id>/deactivate/",
        people_views.person_deactivate,
        name="person_deactivate",
    ),
    path(
        "people/<int:user_id>/reactivate/",
        people_views.person_reactivate,
        name="person_reactivate",
    ),
    # An invited colleague chooses their password (public: the signed token is the key).
    path("invitation/<str:token>/", people_views.invitation, name="invitation"),
    # The user's own: profile with the BCC tracker, personal mailboxes (personal_views.py).
    path("me/", personal_views.profile, name="profile"),
    path("me/tracker/regenerate/", personal_views.tracker_regenerate, name="tracker_regenerate"),
    path("me/email-tracking/", personal_views.email_tracking, name="email_tracking"),
    path("me/time-zone/", time_zone_views.time_zone, name="time_zone"),
    path("tracking/opt-out/", tracking_views.tracking_opt_out, name="tracking_opt_out"),
    path(
        "tracking/triggers/<int:firing_id>/undo/", tracking_views.trigger_undo, name="trigger_undo"
    ),
    # A pipeline's or smart type's email triggers (crm_pipeline_views.stage_triggers).
    path(
        "crm/<str:owner>/<int:owner_id>/triggers/",
        crm_pipeline_views.stage_triggers,
        name="stage_triggers",
    ),
    # The second factor of the user's logins (login_views.py).
    path("me/two-factor/", login_views.two_factor, name="two_factor"),
    path(
        "me/two-factor/recovery-codes/",
        login_views.two_factor_recovery_codes,
        name="two_factor_recovery_codes",
    ),
    path("me/two-factor/off/", login_views.two_factor_off, name="two_factor_off"),
    path("me/mailboxes/", personal_views.my_mailboxes, name="my_mailboxes"),
    path("me/mailboxes/connect/", personal_views.connect_mailbox, name="connect_mailbox"),
    path("me/mailboxes/<int:mailbox_id>/", personal_views.my_mailbox, name="my_mailbox"),
    path(
        "me/mailboxes/<int:mailbox_id>/disconnect/",
        personal_views.disconnect_mailbox,
        name="disconnect_mailbox",
    ),
    # A mailbox's IMAP password: a personal one's owner, a shared one's managers.
    path(
        "mailboxes/<int:mailbox_id>/password/",
        personal_views.mailbox_password,
        name="mailbox_password",
    ),
    # The inbox and the conversation workflow (inbox_views.py).
    path("inbox/", inbox_views.inbox, name="inbox"),
    path("inbox/bulk/", inbox_views.inbox_bulk, name="inbox_bulk"),
    path(
        "conversations/<int:conversation_id>/workflow/",
        inbox_views.conversation_action,
        name="conversation_action",
    ),
    path(
        "conversations/<int:conversation_id>/comments/",
        inbox_views.conversation_comment,
        name="conversation_comment",
    ),
    path(
        "conversations/<int:conversation_id>/presence/",
        inbox_views.conversation_presence,
        name="conversation_presence",
    ),
    path(
        "conversations/<int:conversation_id>/replying/",
        inbox_views.conversation_replying,
        name="conversation_replying",
    ),
    # A mailbox's auto-reply (autoreply_views.py).
    path(
        "mailboxes/<int:mailbox_id>/auto-reply/",
        autoreply_views.mailbox_auto_reply,
        name="mailbox_auto_reply",
    ),
    # Distribution rules, business hours and absences (routing_views.py).
    path("mailboxes/<int:mailbox_id>/rules/", routing_views.mailbox_rules, name="mailbox_rules"),
    path("mailboxes/<int:mailbox_id>/rules/new/", routing_views.rule_edit, name="rule_new"),
    path(
        "mailboxes/<int:mailbox_id>/rules/<int:rule_id>/",
        routing_views.rule_edit,
        name="rule_edit",
    ),
    path(
        "mailboxes/<int:mailbox_id>/rules/<int:rule_id>/move/",
        routing_views.rule_move,
        name="rule_move",
    ),
    path(
        "mailboxes/<int:mailbox_id>/rules/<int:rule_id>/toggle/",
        routing_views.rule_toggle,
        name="rule_toggle",
    ),
    path(
        "mailboxes/<int:mailbox_id>/rules/<int:rule_id>/delete/",
        routing_views.rule_delete,
        name="rule_delete",
    ),
    # Reply deadlines (sla_views.py).
    path(
        "mailboxes/<int:mailbox_id>/deadlines/",
        sla_views.mailbox_deadlines,
        name="mailbox_deadlines",
    ),
    path(
        "mailboxes/<int:mailbox_id>/deadlines/<int:policy_id>/remove/",
        sla_views.mailbox_deadline_remove,
        name="mailbox_deadline_remove",
    ),
    path("business-hours/", routing_views.calendars, name="calendars"),
    path("business-hours/<int:calendar_id>/", routing_views.calendar_edit, name="calendar_edit"),
    path(
        "business-hours/<int:calendar_id>/delete/",
        routing_views.calendar_delete,
        name="calendar_delete",
    ),
    path("business-hours/away/", routing_views.absence_add, name="absence_add"),
    path(
        "business-hours/away/<int:absence_id>/remove/",
        routing_views.absence_remove,
        name="absence_remove",
    ),
    # Retention and storage (retention_views.py): administrators, and the choices said
    # before mail goes (sync switched off, an account deactivated, a task deleted).
    path("retention/", retention_views.retention, name="retention"),
    path("retention/run/", retention_views.retention_run, name="retention_run"),
    path(
        "retention/runs/<int:run_id>/",
        retention_views.retention_run_detail,
        name="retention_run_detail",
    ),
    path("storage/", retention_views.storage_report, name="storage"),
    path("limits/", limits_views.limits_page, name="limits"),
    path(
        "mailboxes/<int:mailbox_id>/stop-sync/",
        retention_views.stop_sync,
        name="retention_stop_sync",
    ),
    path(
        "people/<int:user_id>/deactivate-with-mail/",
        retention_views.deactivate_with_mail,
        name="retention_deactivate",
    ),
    path("tasks/<int:task_id>/delete/", retention_views.delete_task, name="task_delete"),
]
