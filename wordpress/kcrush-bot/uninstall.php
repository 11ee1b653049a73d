<?php
/**
 * Deleting the plugin in wp-admin forgets its settings. The short-lived transients it keeps
 * (the last notice per post, the last test's outcome) expire on their own.
 *
 * @package KCrushBot
 */

defined( 'WP_UNINSTALL_PLUGIN' ) || exit;

delete_option( 'kcrush_bot_push_url' );
delete_option( 'kcrush_bot_push_secret' );
