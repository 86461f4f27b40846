// select_fan_in: Go's select — wait on several channels at once, give up after a timeout.
//
//   for news != nil || weather != nil {
//       select {
//       case s, ok := <-news:    if !ok { news = nil; continue }; fmt.Println("news:", s)
//       case s, ok := <-weather: if !ok { weather = nil; continue }; fmt.Println("weather:", s)
//       case <-time.After(time.Second): fmt.Println("quiet for a second"); return
//       }
//   }
//
// Two reporters file stories on their own channels and close them when they are done. The
// desk takes whatever comes first; a closed channel's case is switched off by making the
// channel nil, as Go programs do, so the loop ends once both are closed.
#include <chrono>
#include <iostream>
#include <optional>
#include <string>
#include <thread>

#include "csp/select.hpp"
#include "csp/time.hpp"

using namespace std::chrono_literals;

int main() {
  csp::channel<std::string> news(2);
  csp::channel<std::string> weather(2);

  std::jthread news_desk([news] {
    for (const char* story : {"markets up", "new bridge opens", "local team wins"})
      news.send(story);
    news.close();
  });
  std::jthread weather_desk([weather] {
    for (const char* story : {"sunny", "rain at noon"}) weather.send(story);
    weather.close();
  });

  csp::receiver<std::string> news_in = news;
  csp::receiver<std::string> weather_in = weather;
  int stories = 0;
  while (news_in != nullptr || weather_in != nullptr) {
    std::optional<std::string> story;
    switch (csp::select(csp::on_receive(news_in, story), csp::on_receive(weather_in, story),
                        csp::on_receive(csp::after(1s)))) {
      case 0:
        if (!story) {
          std::cout << "news closed\n";
          news_in = nullptr;  // a nil channel's case is never ready again
          continue;
        }
        std::cout << "news: " << *story << '\n';
        break;
      case 1:
        if (!story) {
          std::cout << "weather closed\n";
          weather_in = nullptr;
          continue;
        }
        std::cout << "weather: " << *story << '\n';
        break;
      case 2:
        std::cout << "quiet for a second\n";
        return 1;
    }
    ++stories;
  }
  std::cout << "both desks closed after " << stories << " stories\n";

  // A select with a default case never blocks: here nothing is ready, so it takes the default.
  csp::channel<int> idle;
  const std::size_t taken = csp::select(csp::on_receive(idle), csp::on_default());
  std::cout << "non-blocking select took case " << taken << " (the default)\n";
}
