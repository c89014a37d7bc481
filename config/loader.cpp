#include "config/loader.hpp"
