<?php
/**
 * Plugin Name:       KCrush Bot
 * Plugin URI:        https://www.kcrush.com/
 * Description:       Tells the KCrush bot the moment a post is published, updated or withdrawn, so that Telegram and Discord chats follow the magazine within a second.
 * Version:           1.0.0
 * Requires at least: 6.1
 * Requires PHP:      7.4
 * Author:            KCrush America Magazine
 * License:           MIT
 * License URI:       https://opensource.org/licenses/MIT
 * Text Domain:       kcrush-bot
 *
 * @package KCrushBot
 */

defined( 'ABSPATH' ) || exit;

/**
 * Sends the bot a signed notice for every change to a post's public life, and offers a
 * settings page (Settings → KCrush Bot) with a button that sends a test notice.
 *
 * A notice is a hint, never content: the bot re-reads the post from the REST API. So the
 * plugin only has to say which post changed and how, once per post and request, and never
 * hold up the editor doing it.
 */
final class KCrush_Bot {

	const VERSION = '1.0.0';

	const OPTION_URL    = 'kcrush_bot_push_url';
	const OPTION_SECRET = 'kcrush_bot_push_secret';

	const SETTINGS_GROUP = 'kcrush_bot';
	const PAGE           = 'kcrush-bot';
	const TEST_ACTION    = 'kcrush_bot_test';
	const TEST_NONCE     = 'kcrush_bot_test_nonce';

	/**
	 * The block editor saves a post twice (REST, then the classic meta boxes); the second save
	 * changes nothing the bot shows, so the same notice is not sent again for this long.
	 */
	const REPEAT_WINDOW = 120;

	/**
	 * Posts touched during this request: post id => array( 'was_public' => ?bool,
	 * 'deleted' => ?array ). Sent, at most once each, at shutdown.
	 *
	 * @var array<int, array{was_public: ?bool, deleted: ?array}>
	 */
	private $pending = array();

	/**
	 * Hooks the plugin in.
	 */
	public function register() {
		// Before an update is written: whether the post was public until now.
		add_action( 'pre_post_update', array( $this, 'before_update' ), 10, 1 );
		add_action( 'transition_post_status', array( $this, 'status_changed' ), 10, 3 );
		// Categories, tags and the featured image change what the bot shows.
		add_action( 'set_object_terms', array( $this, 'terms_changed' ), 10, 4 );
		add_action( 'added_post_meta', array( $this, 'meta_changed' ), 10, 3 );
		add_action( 'updated_post_meta', array( $this, 'meta_changed' ), 10, 3 );
		add_action( 'deleted_post_meta', array( $this, 'meta_changed' ), 10, 3 );
		add_action( 'before_delete_post', array( $this, 'before_delete' ), 10, 1 );
		add_action( 'deleted_post', array( $this, 'deleted' ), 10, 1 );
		// After WordPress has flushed its output (priority 1): one notice per post, at the end.
		add_action( 'shutdown', array( $this, 'send_pending' ), 100 );

		if ( is_admin() ) {
			add_action( 'admin_menu', array( $this, 'add_settings_page' ) );
			add_action( 'admin_init', array( $this, 'register_settings' ) );
			add_action( 'admin_post_' . self::TEST_ACTION, array( $this, 'send_test_notice' ) );
			add_filter( 'plugin_action_links_' . plugin_basename( __FILE__ ), array( $this, 'action_links' ) );
		}
	}

	// -- Configuration -------------------------------------------------------------------------

	/**
	 * The bot's push URL: the constant when wp-config.php defines it, else the saved setting.
	 *
	 * @return string
	 */
	public static function push_url() {
		if ( defined( 'KCRUSH_BOT_PUSH_URL' ) ) {
			return (string) KCRUSH_BOT_PUSH_URL;
		}
		return (string) get_option( self::OPTION_URL, '' );
	}

	/**
	 * The shared secret: the constant when wp-config.php defines it, else the saved setting.
	 *
	 * @return string
	 */
	public static function push_secret() {
		if ( defined( 'KCRUSH_BOT_PUSH_SECRET' ) ) {
			return (string) KCRUSH_BOT_PUSH_SECRET;
		}
		return (string) get_option( self::OPTION_SECRET, '' );
	}

	/**
	 * Whether notices can be sent: both the URL and the secret are known.
	 *
	 * @return bool
	 */
	public static function configured() {
		return '' !== self::push_url() && '' !== self::push_secret();
	}

	// -- Watching posts ------------------------------------------------------------------------

	/**
	 * Whether the bot may show a post: a published post of type post without a password.
	 *
	 * @param WP_Post|null $post The post.
	 * @return bool
	 */
	private static function is_public( $post ) {
		return $post instanceof WP_Post
			&& 'post' === $post->post_type
			&& 'publish' === $post->post_status
			&& '' === $post->post_password;
	}

	/**
	 * Whether a change to this post is one the bot cares about at all.
	 *
	 * @param WP_Post|null $post The post.
	 * @return bool
	 */
	private static function watched( $post ) {
		if ( ! $post instanceof WP_Post || 'post' !== $post->post_type ) {
			return false;
		}
		// Autosaves and revisions are copies the bot never shows.
		if ( wp_is_post_autosave( $post ) || wp_is_post_revision( $post ) ) {
			return false;
		}
		return ! ( defined( 'DOING_AUTOSAVE' ) && DOING_AUTOSAVE );
	}

	/**
	 * Remembers that a post changed in this request, and whether it was public before the
	 * first change (a later hook in the same request no longer knows).
	 *
	 * @param int       $post_id    The post id.
	 * @param bool|null $was_public Whether it was public before, when this hook knows.
	 */
	private function touch( $post_id, $was_public ) {
		if ( ! isset( $this->pending[ $post_id ] ) ) {
			$this->pending[ $post_id ] = array(
				'was_public' => null,
				'deleted'    => null,
			);
		}
		if ( null === $this->pending[ $post_id ]['was_public'] && null !== $was_public ) {
			$this->pending[ $post_id ]['was_public'] = $was_public;
		}
	}

	/**
	 * The post as it is before an update is written.
	 *
	 * @param int $post_id The post id.
	 */
	public function before_update( $post_id ) {
		$post = get_post( $post_id );
		if ( self::watched( $post ) ) {
			$this->touch( $post->ID, self::is_public( $post ) );
		}
	}

	/**
	 * A status change: from "new" on creation, from "future" when a scheduled post goes live
	 * (which does not pass through pre_post_update, and changes nothing but the status).
	 *
	 * @param string  $new_status The new status.
	 * @param string  $old_status The old status.
	 * @param WP_Post $post       The post.
	 */
	public function status_changed( $new_status, $old_status, $post ) {
		if ( self::watched( $post ) ) {
			$this->touch( $post->ID, 'publish' === $old_status && '' === $post->post_password );
		}
	}

	/**
	 * Categories or tags set on a post.
	 *
	 * @param int    $object_id The object id.
	 * @param array  $terms     The terms given.
	 * @param array  $tt_ids    The term taxonomy ids set.
	 * @param string $taxonomy  The taxonomy.
	 */
	public function terms_changed( $object_id, $terms, $tt_ids, $taxonomy ) {
		if ( in_array( $taxonomy, array( 'category', 'post_tag' ), true ) && self::watched( get_post( $object_id ) ) ) {
			$this->touch( (int) $object_id, null );
		}
	}

	/**
	 * The featured image set, changed or removed.
	 *
	 * @param int|int[] $meta_ids  The meta id(s).
	 * @param int       $object_id The post id.
	 * @param string    $meta_key  The meta key.
	 */
	public function meta_changed( $meta_ids, $object_id, $meta_key ) {
		if ( '_thumbnail_id' === $meta_key && self::watched( get_post( $object_id ) ) ) {
			$this->touch( (int) $object_id, null );
		}
	}

	/**
	 * A post about to be deleted for good: what the notice will need once it is gone.
	 *
	 * @param int $post_id The post id.
	 */
	public function before_delete( $post_id ) {
		$post = get_post( $post_id );
		if ( ! $post instanceof WP_Post || 'post' !== $post->post_type ) {
			return;
		}
		$this->touch( $post->ID, self::is_public( $post ) );
		$status = $post->post_status;
		if ( 'trash' === $status ) {
			$status = (string) get_post_meta( $post->ID, '_wp_trash_meta_status', true );
		}
		$this->pending[ $post->ID ]['deleted'] = array(
			'status'       => $status,
			'modified_gmt' => $post->post_modified_gmt,
			'confirmed'    => false,
		);
	}

	/**
	 * The deletion happened.
	 *
	 * @param int $post_id The post id.
	 */
	public function deleted( $post_id ) {
		if ( isset( $this->pending[ $post_id ]['deleted'] ) ) {
			$this->pending[ $post_id ]['deleted']['confirmed'] = true;
		}
	}

	/**
	 * What to tell the bot about a post touched in this request, if anything.
	 *
	 * @param int   $post_id The post id.
	 * @param array $change  What this request did to it.
	 * @return array|null The notice, or null.
	 */
	private function notice_for( $post_id, $change ) {
		if ( ! empty( $change['deleted']['confirmed'] ) ) {
			// Posts that may have been public (published, private, or trashed from either);
			// a draft that never was is nothing to the bot.
			if ( $change['was_public'] || in_array( $change['deleted']['status'], array( 'publish', 'private' ), true ) ) {
				return self::notice( 'delete', $post_id, $change['deleted']['modified_gmt'] );
			}
			return null;
		}
		clean_post_cache( $post_id );
		$post = get_post( $post_id );
		if ( ! $post instanceof WP_Post ) {
			return null;
		}
		$is_public  = self::is_public( $post );
		$was_public = null === $change['was_public'] ? $is_public : $change['was_public'];
		if ( $is_public ) {
			$event = $was_public ? 'update' : 'publish';
		} elseif ( $was_public ) {
			$event = 'unpublish';
		} else {
			return null;
		}
		return self::notice( $event, $post_id, $post->post_modified_gmt );
	}

	/**
	 * The state of a post as far as the bot can see it, to recognise a save that changed
	 * nothing (the block editor's meta-box save after its REST save).
	 *
	 * @param int    $post_id The post id.
	 * @param string $event   The event.
	 * @return string
	 */
	private static function fingerprint( $post_id, $event ) {
		$post = get_post( $post_id );
		if ( 'delete' === $event || ! $post instanceof WP_Post ) {
			return md5( $event . ':' . $post_id );
		}
		$terms = wp_get_object_terms( $post_id, array( 'category', 'post_tag' ), array( 'fields' => 'tt_ids' ) );
		$terms = is_wp_error( $terms ) ? array() : array_map( 'intval', $terms );
		sort( $terms );
		return md5(
			(string) wp_json_encode(
				array(
					$post->post_status,
					$post->post_password,
					$post->post_title,
					$post->post_excerpt,
					$post->post_content,
					$post->post_name,
					$post->post_date_gmt,
					$post->post_author,
					get_post_thumbnail_id( $post ),
					$terms,
				)
			)
		);
	}

	/**
	 * A notice's fields, in the order the bot documents them.
	 *
	 * @param string $event        publish, update, unpublish or delete.
	 * @param int    $post_id      The post id.
	 * @param string $modified_gmt The post's modification time, "Y-m-d H:i:s" in UTC.
	 * @return array
	 */
	private static function notice( $event, $post_id, $modified_gmt ) {
		return array(
			'event'        => $event,
			'post_id'      => (int) $post_id,
			'modified_gmt' => str_replace( ' ', 'T', (string) $modified_gmt ),
			'site'         => untrailingslashit( home_url() ),
		);
	}

	/**
	 * Sends the notices of this request, at most one per post.
	 */
	public function send_pending() {
		$pending       = $this->pending;
		$this->pending = array();
		if ( ! $pending || ! self::configured() ) {
			return;
		}
		$notices = array();
		foreach ( $pending as $post_id => $change ) {
			$notice = $this->notice_for( $post_id, $change );
			if ( null === $notice ) {
				continue;
			}
			$key         = 'kcrush_bot_sent_' . $post_id;
			$fingerprint = self::fingerprint( $post_id, $notice['event'] );
			if ( get_transient( $key ) === $fingerprint ) {
				continue; // A second save of the same state, moments after the first.
			}
			set_transient( $key, $fingerprint, self::REPEAT_WINDOW );
			$notices[] = $notice;
		}
		if ( ! $notices ) {
			return;
		}
		// Let the editor's request finish before talking to the bot, where the server can.
		if ( function_exists( 'fastcgi_finish_request' ) ) {
			fastcgi_finish_request();
		}
		foreach ( $notices as $notice ) {
			self::send( $notice, false );
		}
	}

	/**
	 * Sends one signed notice.
	 *
	 * @param array $notice   The notice's fields.
	 * @param bool  $blocking Whether to wait for the bot's answer (the test button does).
	 * @return array|WP_Error The response (empty when not blocking) or the error.
	 */
	private static function send( $notice, $blocking ) {
		$body      = (string) wp_json_encode( $notice, JSON_UNESCAPED_SLASHES );
		$timestamp = (string) time();
		return wp_remote_post(
			self::push_url(),
			array(
				'body'        => $body,
				'headers'     => array(
					'Content-Type'       => 'application/json',
					'X-KCrush-Timestamp' => $timestamp,
					'X-KCrush-Signature' => 'sha256=' . hash_hmac( 'sha256', $timestamp . '.' . $body, self::push_secret() ),
				),
				'blocking'    => $blocking,
				// Short: the bot answers at once, and the editor must never wait on it.
				'timeout'     => $blocking ? 10 : 1,
				'redirection' => 0,
				'user-agent'  => 'KCrushBot-WordPress/' . self::VERSION . '; ' . home_url(),
			)
		);
	}

	// -- Settings page -------------------------------------------------------------------------

	/**
	 * Settings → KCrush Bot.
	 */
	public function add_settings_page() {
		add_options_page(
			__( 'KCrush Bot', 'kcrush-bot' ),
			__( 'KCrush Bot', 'kcrush-bot' ),
			'manage_options',
			self::PAGE,
			array( $this, 'render_settings_page' )
		);
	}

	/**
	 * A "Settings" link beside Deactivate on the Plugins screen.
	 *
	 * @param array $links The plugin's action links.
	 * @return array
	 */
	public function action_links( $links ) {
		$url = admin_url( 'options-general.php?page=' . self::PAGE );
		array_unshift( $links, '<a href="' . esc_url( $url ) . '">' . esc_html__( 'Settings', 'kcrush-bot' ) . '</a>' );
		return $links;
	}

	/**
	 * The two settings, through the Settings API (which checks the capability and the nonce).
	 */
	public function register_settings() {
		register_setting(
			self::SETTINGS_GROUP,
			self::OPTION_URL,
			array(
				'type'              => 'string',
				'default'           => '',
				'sanitize_callback' => array( $this, 'sanitize_url' ),
			)
		);
		register_setting(
			self::SETTINGS_GROUP,
			self::OPTION_SECRET,
			array(
				'type'              => 'string',
				'default'           => '',
				'sanitize_callback' => array( $this, 'sanitize_secret' ),
			)
		);
		add_settings_section( 'kcrush_bot_push', __( 'Push to the bot', 'kcrush-bot' ), array( $this, 'render_section' ), self::PAGE );
		add_settings_field( self::OPTION_URL, __( 'Push URL', 'kcrush-bot' ), array( $this, 'render_url_field' ), self::PAGE, 'kcrush_bot_push', array( 'label_for' => self::OPTION_URL ) );
		add_settings_field( self::OPTION_SECRET, __( 'Secret', 'kcrush-bot' ), array( $this, 'render_secret_field' ), self::PAGE, 'kcrush_bot_push', array( 'label_for' => self::OPTION_SECRET ) );
	}

	/**
	 * Keeps an http(s) URL; refuses anything else and keeps the saved one.
	 *
	 * @param mixed $value The submitted value.
	 * @return string
	 */
	public function sanitize_url( $value ) {
		$value = trim( (string) $value );
		if ( '' === $value ) {
			return '';
		}
		$url = esc_url_raw( $value, array( 'http', 'https' ) );
		if ( '' === $url || ! wp_parse_url( $url, PHP_URL_HOST ) ) {
			add_settings_error( self::OPTION_URL, 'kcrush_bot_bad_url', __( 'The push URL must be an http:// or https:// address.', 'kcrush-bot' ) );
			return (string) get_option( self::OPTION_URL, '' );
		}
		return $url;
	}

	/**
	 * An empty field keeps the saved secret (the page never shows it back).
	 *
	 * @param mixed $value The submitted value.
	 * @return string
	 */
	public function sanitize_secret( $value ) {
		$value = trim( (string) $value );
		if ( '' === $value ) {
			return (string) get_option( self::OPTION_SECRET, '' );
		}
		return $value;
	}

	/**
	 * The section's introduction.
	 */
	public function render_section() {
		echo '<p>' . esc_html__( 'The bot takes notices at its /push/wordpress address; the secret is the one the bot reads from KCRUSH_PUSH_SECRET. Constants in wp-config.php (KCRUSH_BOT_PUSH_URL, KCRUSH_BOT_PUSH_SECRET) take precedence over these fields.', 'kcrush-bot' ) . '</p>';
	}

	/**
	 * The URL field, locked when the constant sets it.
	 */
	public function render_url_field() {
		if ( defined( 'KCRUSH_BOT_PUSH_URL' ) ) {
			printf(
				'<input type="url" id="%1$s" class="regular-text code" value="%2$s" disabled="disabled" /><p class="description">%3$s</p>',
				esc_attr( self::OPTION_URL ),
				esc_attr( self::push_url() ),
				esc_html__( 'Set by KCRUSH_BOT_PUSH_URL in wp-config.php.', 'kcrush-bot' )
			);
			return;
		}
		printf(
			'<input type="url" id="%1$s" name="%1$s" class="regular-text code" value="%2$s" placeholder="https://bot.example.com/push/wordpress" />',
			esc_attr( self::OPTION_URL ),
			esc_attr( (string) get_option( self::OPTION_URL, '' ) )
		);
	}

	/**
	 * The secret field: never shows the secret, locked when the constant sets it.
	 */
	public function render_secret_field() {
		if ( defined( 'KCRUSH_BOT_PUSH_SECRET' ) ) {
			printf(
				'<input type="password" id="%1$s" class="regular-text" value="" placeholder="%2$s" disabled="disabled" /><p class="description">%3$s</p>',
				esc_attr( self::OPTION_SECRET ),
				esc_attr__( 'set in wp-config.php', 'kcrush-bot' ),
				esc_html__( 'Set by KCRUSH_BOT_PUSH_SECRET in wp-config.php.', 'kcrush-bot' )
			);
			return;
		}
		$saved = '' !== (string) get_option( self::OPTION_SECRET, '' );
		printf(
			'<input type="password" id="%1$s" name="%1$s" class="regular-text" value="" autocomplete="new-password" placeholder="%2$s" /><p class="description">%3$s</p>',
			esc_attr( self::OPTION_SECRET ),
			esc_attr( $saved ? __( 'saved (leave empty to keep it)', 'kcrush-bot' ) : '' ),
			esc_html__( 'The same value as the bot\'s KCRUSH_PUSH_SECRET.', 'kcrush-bot' )
		);
	}

	/**
	 * The page: the settings form, then the test button and what the bot last answered.
	 */
	public function render_settings_page() {
		if ( ! current_user_can( 'manage_options' ) ) {
			return;
		}
		$locked = defined( 'KCRUSH_BOT_PUSH_URL' ) && defined( 'KCRUSH_BOT_PUSH_SECRET' );
		echo '<div class="wrap"><h1>' . esc_html( get_admin_page_title() ) . '</h1>';
		$this->render_test_result();
		echo '<form method="post" action="' . esc_url( admin_url( 'options.php' ) ) . '">';
		settings_fields( self::SETTINGS_GROUP );
		do_settings_sections( self::PAGE );
		if ( ! $locked ) {
			submit_button();
		}
		echo '</form>';

		echo '<h2>' . esc_html__( 'Test', 'kcrush-bot' ) . '</h2>';
		if ( ! self::configured() ) {
			echo '<p>' . esc_html__( 'Notices are sent once both the push URL and the secret are set.', 'kcrush-bot' ) . '</p>';
		}
		echo '<p>' . esc_html__( 'Sends the bot a signed notice about the newest published post (an update, which changes nothing in the chats) and shows what the bot answered.', 'kcrush-bot' ) . '</p>';
		echo '<form method="post" action="' . esc_url( admin_url( 'admin-post.php' ) ) . '">';
		echo '<input type="hidden" name="action" value="' . esc_attr( self::TEST_ACTION ) . '" />';
		// Named apart from the settings form's nonce and button: two forms, one page, unique ids.
		wp_nonce_field( self::TEST_ACTION, self::TEST_NONCE );
		submit_button( __( 'Send a test notice', 'kcrush-bot' ), 'secondary', 'kcrush_bot_send_test', false, self::configured() ? array() : array( 'disabled' => 'disabled' ) );
		echo '</form></div>';
	}

	/**
	 * The transient that carries a test's outcome across the redirect, per user.
	 *
	 * @return string
	 */
	private static function test_result_key() {
		return 'kcrush_bot_test_' . get_current_user_id();
	}

	/**
	 * The test button: sends a real notice, waits for the answer, and goes back to the page.
	 */
	public function send_test_notice() {
		if ( ! current_user_can( 'manage_options' ) ) {
			wp_die( esc_html__( 'Sorry, you are not allowed to manage options for this site.', 'kcrush-bot' ), '', array( 'response' => 403 ) );
		}
		check_admin_referer( self::TEST_ACTION, self::TEST_NONCE );

		if ( ! self::configured() ) {
			$result = array(
				'ok'      => false,
				'message' => __( 'Set the push URL and the secret first.', 'kcrush-bot' ),
			);
		} else {
			$latest   = get_posts(
				array(
					'post_type'        => 'post',
					'post_status'      => 'publish',
					'has_password'     => false,
					'numberposts'      => 1,
					'orderby'          => array(
						'date' => 'DESC',
						'ID'   => 'DESC',
					),
					'suppress_filters' => true,
				)
			);
			$notice   = $latest
				? self::notice( 'update', $latest[0]->ID, $latest[0]->post_modified_gmt )
				: self::notice( 'update', 0, gmdate( 'Y-m-d H:i:s' ) );
			$response = self::send( $notice, true );
			if ( is_wp_error( $response ) ) {
				$result = array(
					'ok'      => false,
					/* translators: %s: the error message. */
					'message' => sprintf( __( 'The bot could not be reached: %s', 'kcrush-bot' ), $response->get_error_message() ),
				);
			} else {
				$code   = (int) wp_remote_retrieve_response_code( $response );
				$body   = trim( wp_strip_all_tags( (string) wp_remote_retrieve_body( $response ) ) );
				$result = array(
					'ok'      => $code >= 200 && $code < 300,
					/* translators: 1: HTTP status code, 2: HTTP reason phrase, 3: start of the answer's body. */
					'message' => sprintf( __( 'The bot answered %1$d %2$s: %3$s', 'kcrush-bot' ), $code, wp_remote_retrieve_response_message( $response ), '' === $body ? __( '(empty body)', 'kcrush-bot' ) : wp_html_excerpt( $body, 200, '…' ) ),
				);
				if ( 401 === $code ) {
					$result['message'] .= ' ' . __( 'Check that the secret is the bot\'s KCRUSH_PUSH_SECRET and that this server\'s clock is right.', 'kcrush-bot' );
				}
			}
		}
		set_transient( self::test_result_key(), $result, 5 * MINUTE_IN_SECONDS );
		wp_safe_redirect( add_query_arg( 'kcrush-bot-tested', '1', admin_url( 'options-general.php?page=' . self::PAGE ) ) );
		exit;
	}

	/**
	 * Shows the outcome of the last test, once.
	 */
	private function render_test_result() {
		// Only says which notice to show; nothing is changed by it.
		// phpcs:ignore WordPress.Security.NonceVerification.Recommended
		if ( empty( $_GET['kcrush-bot-tested'] ) ) {
			return;
		}
		$result = get_transient( self::test_result_key() );
		if ( ! is_array( $result ) ) {
			return;
		}
		delete_transient( self::test_result_key() );
		printf(
			'<div class="notice %1$s is-dismissible kcrush-bot-test-result"><p>%2$s</p></div>',
			esc_attr( $result['ok'] ? 'notice-success' : 'notice-error' ),
			esc_html( $result['message'] )
		);
	}
}

( new KCrush_Bot() )->register();
