// ql_ui is filled by the desktop-app issue; this keeps the library linkable.
namespace ql::ui {
const char* ui_version() { return QL_VERSION; }
}  // namespace ql::ui
