<?php
/**
 * The tests' hand inside WordPress: one command per run, through WordPress's own PHP API.
 *
 * Usage: php wp.php < {"command": "...", "args": {...}, "user": "admin"}
 * with KCRUSH_WP_ROOT (the WordPress tree) and KCRUSH_WP_SESSION (the session folder whose
 * config.json wp-config.php reads) in the environment. The answer is one line on stdout,
 * "KCRUSH-RESULT <json>", so that anything else WordPress prints cannot be mistaken for it.
 *
 * Each run is a whole WordPress request: plugins load, hooks fire, and `shutdown` runs when
 * PHP exits, so a plugin that sends its notices at shutdown sends them from here as it would
 * from a browser's request.
 */

$request = json_decode( stream_get_contents( STDIN ), true );
if ( ! is_array( $request ) || empty( $request['command'] ) ) {
	fwrite( STDERR, "wp.php: expected a JSON request on stdin\n" );
	exit( 2 );
}
$command = $request['command'];
$args    = isset( $request['args'] ) ? $request['args'] : array();

$kcrush_home = parse_url( (string) getenv( 'KCRUSH_WP_HOME' ) );
$_SERVER['HTTP_HOST']       = $kcrush_home['host'] . ( isset( $kcrush_home['port'] ) ? ':' . $kcrush_home['port'] : '' );
$_SERVER['SERVER_NAME']     = $kcrush_home['host'];
$_SERVER['SERVER_PORT']     = isset( $kcrush_home['port'] ) ? (string) $kcrush_home['port'] : '80';
$_SERVER['REQUEST_URI']     = '/';
$_SERVER['REQUEST_METHOD']  = 'GET';
$_SERVER['SERVER_PROTOCOL'] = 'HTTP/1.1';
$_SERVER['REMOTE_ADDR']     = '127.0.0.1';

if ( 'install' === $command ) {
	define( 'WP_INSTALLING', true );
}
define( 'WP_USE_THEMES', false );

if ( 'autosave' === $command ) {
	// What the editor's autosave request declares before WordPress loads.
	define( 'DOING_AUTOSAVE', true );
}

if ( 'install' === $command ) {
	// wp_install() mails the new site's owner; there is no mail on the test machine.
	function wp_new_blog_notification() {}
}

require getenv( 'KCRUSH_WP_ROOT' ) . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/admin.php';

function kcrush_result( $value ) {
	fwrite( STDOUT, "\nKCRUSH-RESULT " . wp_json_encode( $value, JSON_UNESCAPED_SLASHES ) . "\n" );
}

function kcrush_fail( $message ) {
	fwrite( STDOUT, "\nKCRUSH-ERROR " . wp_json_encode( array( 'error' => $message ) ) . "\n" );
	exit( 1 );
}

function kcrush_check( $value ) {
	if ( is_wp_error( $value ) ) {
		kcrush_fail( $value->get_error_code() . ': ' . $value->get_error_message() );
	}
	return $value;
}

/** Term ids for names or ids, creating missing terms (as the editor's term boxes do). */
function kcrush_term_ids( $terms, $taxonomy ) {
	$ids = array();
	foreach ( (array) $terms as $term ) {
		if ( is_int( $term ) ) {
			$ids[] = $term;
			continue;
		}
		$found = term_exists( $term, $taxonomy );
		if ( ! $found ) {
			$found = kcrush_check( wp_insert_term( $term, $taxonomy ) );
		}
		$ids[] = (int) $found['term_id'];
	}
	return $ids;
}

/** wp_insert_post() fields from the tests' names. */
function kcrush_post_fields( $args ) {
	$map    = array(
		'title'     => 'post_title',
		'content'   => 'post_content',
		'excerpt'   => 'post_excerpt',
		'status'    => 'post_status',
		'password'  => 'post_password',
		'slug'      => 'post_name',
		'post_type' => 'post_type',
		'author'    => 'post_author',
	);
	$fields = array();
	foreach ( $map as $from => $to ) {
		if ( array_key_exists( $from, $args ) && null !== $args[ $from ] ) {
			$fields[ $to ] = $args[ $from ];
		}
	}
	if ( ! empty( $args['date_gmt'] ) ) {
		$fields['post_date_gmt'] = $args['date_gmt'];
		$fields['post_date']     = get_date_from_gmt( $args['date_gmt'] );
		$fields['edit_date']     = true;
	}
	if ( isset( $args['categories'] ) && null !== $args['categories'] ) {
		$fields['post_category'] = kcrush_term_ids( $args['categories'], 'category' );
	}
	if ( isset( $args['tags'] ) && null !== $args['tags'] ) {
		$fields['tags_input'] = kcrush_term_ids( $args['tags'], 'post_tag' );
	}
	return $fields;
}

function kcrush_post_data( $post_id ) {
	clean_post_cache( $post_id );
	$post = get_post( $post_id );
	if ( ! $post ) {
		return null;
	}
	return array(
		'id'           => $post->ID,
		'type'         => $post->post_type,
		'status'       => $post->post_status,
		'title'        => $post->post_title,
		'content'      => $post->post_content,
		'excerpt'      => $post->post_excerpt,
		'password'     => $post->post_password,
		'slug'         => $post->post_name,
		'date_gmt'     => str_replace( ' ', 'T', $post->post_date_gmt ),
		'modified_gmt' => str_replace( ' ', 'T', $post->post_modified_gmt ),
		'link'         => get_permalink( $post ),
		'categories'   => wp_get_post_categories( $post->ID, array( 'fields' => 'slugs' ) ),
		'tags'         => wp_get_post_tags( $post->ID, array( 'fields' => 'names' ) ),
	);
}

$user = get_user_by( 'login', isset( $request['user'] ) ? $request['user'] : 'admin' );
if ( $user ) {
	wp_set_current_user( $user->ID );
}

switch ( $command ) {
	case 'install':
		require_once ABSPATH . 'wp-admin/includes/upgrade.php';
		$installed = wp_install( $args['title'], $args['admin_user'], $args['admin_email'], true, '', wp_slash( $args['admin_password'] ) );
		kcrush_check( $installed );
		// The site starts empty: no "Hello world!", sample page or privacy page draft.
		foreach ( get_posts( array( 'post_type' => 'any', 'post_status' => 'any', 'numberposts' => -1 ) ) as $post ) {
			wp_delete_post( $post->ID, true );
		}
		wp_delete_comment( 1, true );
		update_option( 'timezone_string', 'UTC' );
		update_option( 'permalink_structure', $args['permalink_structure'] );
		update_option( 'rewrite_rules', '' );
		kcrush_result( array( 'user_id' => $installed['user_id'] ) );
		break;

	case 'warm':
		flush_rewrite_rules( false );
		kcrush_result( true );
		break;

	case 'create_post':
		$fields = kcrush_post_fields( $args );
		if ( empty( $fields['post_type'] ) ) {
			$fields['post_type'] = 'post';
		}
		$post_id = kcrush_check( wp_insert_post( wp_slash( $fields ), true ) );
		kcrush_result( kcrush_post_data( $post_id ) );
		break;

	case 'update_post':
		$fields       = kcrush_post_fields( $args );
		$fields['ID'] = (int) $args['id'];
		kcrush_check( wp_update_post( wp_slash( $fields ), true ) );
		kcrush_result( kcrush_post_data( $fields['ID'] ) );
		break;

	case 'get_post':
		kcrush_result( kcrush_post_data( (int) $args['id'] ) );
		break;

	case 'trash':
		kcrush_result( (bool) wp_trash_post( (int) $args['id'] ) );
		break;

	case 'untrash':
		kcrush_result( (bool) wp_untrash_post( (int) $args['id'] ) );
		break;

	case 'delete':
		kcrush_result( (bool) wp_delete_post( (int) $args['id'], true ) );
		break;

	case 'publish':
		wp_publish_post( (int) $args['id'] );
		kcrush_result( kcrush_post_data( (int) $args['id'] ) );
		break;

	case 'make_due':
		// Time passes for a scheduled post: its date moves into the past and its cron event
		// becomes due, so the next cron run publishes it exactly as it would have on time.
		global $wpdb;
		$post_id = (int) $args['id'];
		$past    = gmdate( 'Y-m-d H:i:s', time() - 60 );
		$wpdb->update(
			$wpdb->posts,
			array(
				'post_date_gmt' => $past,
				'post_date'     => get_date_from_gmt( $past ),
			),
			array( 'ID' => $post_id )
		);
		clean_post_cache( $post_id );
		wp_clear_scheduled_hook( 'publish_future_post', array( $post_id ) );
		wp_schedule_single_event( time() - 60, 'publish_future_post', array( $post_id ) );
		kcrush_result( kcrush_post_data( $post_id ) );
		break;

	case 'autosave':
		// An autosave as the editor makes it: of a published post, a revision of type
		// "revision"; of the author's own draft, the draft itself.
		$saved = wp_create_post_autosave(
			wp_slash(
				array(
					'post_ID'      => (int) $args['id'],
					'post_title'   => $args['title'],
					'post_content' => $args['content'],
					'post_excerpt' => isset( $args['excerpt'] ) ? $args['excerpt'] : '',
					'post_type'    => 'post',
				)
			)
		);
		kcrush_result( kcrush_check( $saved ) );
		break;

	case 'save_revision':
		kcrush_result( kcrush_check( _wp_put_post_revision( get_post( (int) $args['id'] ) ) ) );
		break;

	case 'set_featured_image':
		// An image uploaded into the media library and made the post's featured image;
		// without data, the featured image is removed.
		$post_id = (int) $args['id'];
		if ( empty( $args['data'] ) ) {
			delete_post_thumbnail( $post_id );
			kcrush_result( null );
			break;
		}
		$upload = wp_upload_bits( $args['name'], null, base64_decode( $args['data'] ) );
		if ( ! empty( $upload['error'] ) ) {
			kcrush_fail( $upload['error'] );
		}
		$attachment_id = kcrush_check(
			wp_insert_attachment(
				array(
					'post_mime_type' => wp_check_filetype( $upload['file'] )['type'],
					'post_title'     => $args['name'],
					'post_status'    => 'inherit',
				),
				$upload['file'],
				$post_id,
				true
			)
		);
		require_once ABSPATH . 'wp-admin/includes/image.php';
		wp_update_attachment_metadata( $attachment_id, wp_generate_attachment_metadata( $attachment_id, $upload['file'] ) );
		set_post_thumbnail( $post_id, $attachment_id );
		kcrush_result( array( 'id' => $attachment_id, 'url' => wp_get_attachment_url( $attachment_id ) ) );
		break;

	case 'create_term':
		$term = kcrush_check(
			wp_insert_term(
				$args['name'],
				$args['taxonomy'],
				array_filter(
					array(
						'slug'   => isset( $args['slug'] ) ? $args['slug'] : null,
						'parent' => isset( $args['parent'] ) ? (int) $args['parent'] : null,
					)
				)
			)
		);
		kcrush_result( (int) $term['term_id'] );
		break;

	case 'create_user':
		$user_id = kcrush_check(
			wp_insert_user(
				array(
					'user_login' => $args['login'],
					'user_pass'  => $args['password'],
					'user_email' => $args['login'] . '@example.test',
					'role'       => $args['role'],
				)
			)
		);
		kcrush_result( $user_id );
		break;

	case 'application_password':
		$owner = get_user_by( 'login', $args['login'] );
		$made  = kcrush_check( WP_Application_Passwords::create_new_application_password( $owner->ID, array( 'name' => $args['name'] ) ) );
		kcrush_result( $made[0] );
		break;

	case 'set_option':
		update_option( $args['name'], $args['value'] );
		kcrush_result( get_option( $args['name'] ) );
		break;

	case 'get_option':
		kcrush_result( get_option( $args['name'], null ) );
		break;

	case 'delete_option':
		kcrush_result( delete_option( $args['name'] ) );
		break;

	case 'activate_plugin':
		kcrush_check( activate_plugin( $args['plugin'] ) );
		kcrush_result( is_plugin_active( $args['plugin'] ) );
		break;

	case 'deactivate_plugin':
		deactivate_plugins( $args['plugin'] );
		kcrush_result( is_plugin_active( $args['plugin'] ) );
		break;

	case 'uninstall_plugin':
		kcrush_result( uninstall_plugin( $args['plugin'] ) );
		break;

	case 'eval':
		// A last resort for a test that needs a WordPress function no command wraps.
		kcrush_result( eval( $args['code'] ) );
		break;

	default:
		kcrush_fail( 'unknown command ' . $command );
}
