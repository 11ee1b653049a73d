<?php
/**
 * wp-config.php of the tests' WordPress. One copy of WordPress serves every test session on
 * the machine; a session's database, addresses, content folder and constants come from the
 * config.json of the folder that KCRUSH_WP_SESSION names (set for PHP's built-in server and
 * for the tests' PHP helper alike).
 */

$kcrush_session = getenv( 'KCRUSH_WP_SESSION' );
if ( ! $kcrush_session || ! is_readable( $kcrush_session . '/config.json' ) ) {
	header( 'HTTP/1.1 500 Internal Server Error' );
	exit( "KCRUSH_WP_SESSION names no session folder with a config.json\n" );
}
$kcrush_config = json_decode( file_get_contents( $kcrush_session . '/config.json' ), true );
foreach ( $kcrush_config['constants'] as $kcrush_name => $kcrush_value ) {
	define( $kcrush_name, $kcrush_value );
}
unset( $kcrush_session, $kcrush_config, $kcrush_name, $kcrush_value );

$table_prefix = 'wp_';

if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}
require_once ABSPATH . 'wp-settings.php';
