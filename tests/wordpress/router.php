<?php
/**
 * Router for PHP's built-in server: what Apache's rewrite rules do for WordPress. Files that
 * exist are served as they are; wp-content comes from the session's own content folder;
 * every other path (pretty permalinks, /wp-json/…) goes through index.php.
 */

$kcrush_root    = $_SERVER['DOCUMENT_ROOT'];
$kcrush_path    = rawurldecode( (string) parse_url( $_SERVER['REQUEST_URI'], PHP_URL_PATH ) );
$kcrush_content = getenv( 'KCRUSH_WP_SESSION' ) . '/wp-content';

if ( 0 === strpos( $kcrush_path, '/wp-content/' ) ) {
	$kcrush_file = realpath( $kcrush_content . substr( $kcrush_path, strlen( '/wp-content' ) ) );
	if ( $kcrush_file && 0 === strpos( $kcrush_file, realpath( $kcrush_content ) . '/' ) && is_file( $kcrush_file ) && '.php' !== substr( $kcrush_file, -4 ) ) {
		header( 'Content-Type: ' . ( mime_content_type( $kcrush_file ) ?: 'application/octet-stream' ) );
		readfile( $kcrush_file );
		return true;
	}
}

if ( '/' !== $kcrush_path && file_exists( $kcrush_root . $kcrush_path ) ) {
	return false;
}

$_SERVER['SCRIPT_NAME']     = '/index.php';
$_SERVER['PHP_SELF']        = '/index.php';
$_SERVER['SCRIPT_FILENAME'] = $kcrush_root . '/index.php';
chdir( $kcrush_root );
require $kcrush_root . '/index.php';
