# Run by the redmine_setup role inside Redmine (`rails runner`): make sure of what the
# provisioner needs, creating only what is missing, and print one JSON line:
# {"changed": [what was (or, checking only, would be) done], "auth_source_id": id,
# "api_key": key}. The settings come from REDMINE_SETUP_* environment variables, never
# the command line. REDMINE_SETUP_CHECK_ONLY=true (Ansible's check mode) saves nothing.
require "json"

setting = ->(name) { ENV.fetch("REDMINE_SETUP_#{name}") }
check_only = setting["CHECK_ONLY"] == "true"
changed = []

unless Setting.rest_api_enabled?
  Setting.rest_api_enabled = "1" unless check_only
  changed << "REST API enabled"
end

admin = User.find_by_login(setting["ADMIN_LOGIN"])
abort "Redmine has no account #{setting['ADMIN_LOGIN']}" if admin.nil?
abort "#{setting['ADMIN_LOGIN']} is not a Redmine administrator" unless admin.admin?
token = Token.find_by(user_id: admin.id, action: "api")
if token.nil?
  token = Token.create!(user: admin, action: "api") unless check_only
  changed << "API key created for #{admin.login}"
end

source = AuthSourceLdap.find_or_initialize_by(name: setting["AUTH_SOURCE_NAME"])
source.assign_attributes(
  host: setting["LDAP_HOST"], port: Integer(setting["LDAP_PORT"]),
  ldap_mode: setting["LDAP_MODE"], account: setting["LDAP_BIND_DN"],
  base_dn: setting["LDAP_BASE_DN"], filter: setting["LDAP_FILTER"],
  timeout: Integer(setting["LDAP_TIMEOUT"]),
  attr_login: "uid", attr_firstname: "givenName", attr_lastname: "sn", attr_mail: "mail",
  # Accounts are created by the provisioner, for approved volunteers only.
  onthefly_register: false
)
# Compared in clear: with a database_cipher_key the stored value differs at every write.
password = setting["LDAP_BIND_PASSWORD"]
source.account_password = password unless source.account_password == password
if source.new_record? || source.changed?
  changed << (source.new_record? ? "LDAP source created" : "LDAP source updated")
  source.save! unless check_only
end

puts JSON.generate(changed: changed, auth_source_id: source.id, api_key: token&.value)
