fn main() {
    let doc = docspace_auth_server::api::openapi::document();
    println!("{}", serde_json::to_string_pretty(&doc).unwrap());
}
