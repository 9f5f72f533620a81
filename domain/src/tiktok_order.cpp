#include "cf/tiktok_order.h"

#include "cf/json_builder.h"

namespace cf {
namespace {

void copy_string(JsonBuilder& w, const rapidjson::Value& from, const char* name) {
  auto it = from.FindMember(name);
  if (it != from.MemberEnd() && it->value.IsString())
    w.key(name).string({it->value.GetString(), it->value.GetStringLength()});
}

void copy_integer(JsonBuilder& w, const rapidjson::Value& from, const char* name) {
  auto it = from.FindMember(name);
  if (it != from.MemberEnd() && it->value.IsInt64()) w.key(name).number(it->value.GetInt64());
}

}  // namespace

std::string order_detail_subset(const rapidjson::Value& order) {
  JsonBuilder w(512);
  w.begin_object();
  if (order.IsObject()) {
    copy_string(w, order, "id");
    copy_string(w, order, "status");
    copy_integer(w, order, "create_time");
    copy_integer(w, order, "update_time");
    copy_integer(w, order, "paid_time");
    auto payment = order.FindMember("payment");
    if (payment != order.MemberEnd() && payment->value.IsObject()) {
      w.key("payment").begin_object();
      for (const char* name : {"currency", "sub_total", "total_amount"})
        copy_string(w, payment->value, name);
      w.end_object();
    }
    auto items = order.FindMember("line_items");
    if (items != order.MemberEnd() && items->value.IsArray()) {
      w.key("line_items").begin_array();
      for (const auto& item : items->value.GetArray()) {
        w.begin_object();
        if (item.IsObject()) {
          for (const char* name : {"id", "sku_id", "seller_sku", "sale_price", "currency"})
            copy_string(w, item, name);
        }
        w.end_object();
      }
      w.end_array();
    }
  }
  w.end_object();
  return w.take();
}

std::string enriched_notification_json(std::string_view notification,
                                       std::string_view order_subset_json, int64_t fetched_at_ms) {
  JsonBuilder w(notification.size() + order_subset_json.size() + 96);
  w.begin_object();
  w.key("notification").string(notification);
  w.key("order").raw(order_subset_json);
  w.key("fetched_at").number(fetched_at_ms);
  w.end_object();
  return w.take();
}

}  // namespace cf
